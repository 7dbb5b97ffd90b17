import type { Queryable } from '../db/client.js';

/**
 * The account was erased (/borrar) while this update was on its way: nothing may be written for it
 * any more. The update is acknowledged without effect (lib/bot/index.ts).
 */
export class AccountErased extends Error {
  constructor(what: string) {
    super(`account erased: ${what}`);
    this.name = 'AccountErased';
  }
}

/**
 * An update that doesn't register anybody (a reaction in a group) came from a person who never wrote
 * to the bot: nobody to act for, and no account is made for them (lib/bot/index.ts).
 */
export class NotRegistered extends Error {
  constructor(what: string) {
    super(`not registered: ${what}`);
    this.name = 'NotRegistered';
  }
}

/**
 * The per-user lock of every writer: holds the user row FOR KEY SHARE until the caller's transaction ends
 * and checks the account is alive. /borrar takes the row FOR UPDATE, so it waits for writers that got
 * here first (and then blanks what they wrote), and writers that come after it see the erased row
 * (READ COMMITTED re-checks a locked row's newest version) and stop with AccountErased.
 */
export async function lockLiveUser(tx: Queryable, userId: number): Promise<void> {
  const [row] = await tx`SELECT 1 FROM users WHERE id = ${userId} AND deleted_at IS NULL FOR KEY SHARE`;
  if (!row) throw new AccountErased(`user ${userId}`);
}
