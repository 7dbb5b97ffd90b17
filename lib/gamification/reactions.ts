import type { Queryable, Sql } from '../db/client.js';
import { AlreadyRewarded, CapReached } from '../besitos/errors.js';
import { grantBesitos } from '../besitos/ledger.js';
import { economyPolicy, sourceAmount } from '../besitos/policy.js';
import { registerErasureHook } from '../users/privacy.js';
import { withTransaction } from '../db/transaction.js';
import { localDate } from '../time/zone.js';
import { lockLiveUser } from '../users/errors.js';

/**
 * Reaction rewards (issue 23, seed §4.1). Telegram tells who reacted only in groups where the bot is
 * an administrator (`message_reaction`); channels send anonymous counts, so the bot's own posts carry
 * a reaction button (a callback query always names the presser). Both end here:
 *
 * - 2 besitos for the first reaction of a user to a target (a post, or a group message), once ever:
 *   one `reactions` row per (user, target); taking the reaction back and reacting again only flips
 *   `active`, which is what the live count shows.
 * - at most 3 rewarded reactions a day per person: the economy policy's cap of the 'reaction' source
 *   (lib/besitos/policy.ts), counted per pseudonym in the grant's own statement, so it is exact under
 *   concurrency and /borrar + coming back does not reset it. Over the cap the grant is refused
 *   (CapReached): the reaction still counts (it shows on the button) and pays nothing.
 *
 * Written by hand: a few statements in one transaction; no library does "once per key".
 */
/** Read on first use, not at import: the policy is validated when first read (cold start). */
export const reactionBesitos = () => sourceAmount('reaction');
export const reactionsPerDay = () => economyPolicy.sources.reaction?.caps.day?.grants ?? 3;

export type ReactionTarget = { kind: 'post'; postId: number } | { kind: 'msg'; chatId: number; messageId: number };
export const targetKey = (t: ReactionTarget) => (t.kind === 'post' ? `post:${t.postId}` : `msg:${t.chatId}:${t.messageId}`);

/** What the press or reaction did: paid, counted without pay (daily cap), on again / taken back (never paid twice), nothing. */
export type ReactionOutcome = 'rewarded' | 'capped' | 'again' | 'removed' | 'unchanged';

export interface ReactionResult {
  outcome: ReactionOutcome;
  /** Live reactions on a post after this one (0 for group messages: not counted). */
  count: number;
  /** The balance after the reward (rewarded only). */
  balance?: number;
  /** Why a first reaction paid nothing (capped only): the policy's cap, with when it resets. */
  cap?: CapReached;
}

export interface ReactInput {
  userId: number;
  /** The abuse-prevention pseudonym (the daily cap's subject); null: counted by account. */
  person: string | null;
  target: ReactionTarget;
  /** toggle: a button press; on / off: a reaction added or removed in a group. */
  want: 'toggle' | 'on' | 'off';
  now: Date;
  timeZone: string;
}

export async function react(db: Sql | Queryable, o: ReactInput): Promise<ReactionResult> {
  const target = targetKey(o.target);
  const day = localDate(o.now, o.timeZone);
  return withTransaction(db as Sql, async (tx) => {
    await lockLiveUser(tx, o.userId);
    let outcome: ReactionOutcome;
    let balance: number | undefined;
    let cap: CapReached | undefined;
    if (o.want === 'off') {
      const off = await tx`UPDATE reactions SET active = false, updated_at = now() WHERE user_id = ${o.userId} AND target = ${target} AND active RETURNING id`;
      outcome = off.length ? 'removed' : 'unchanged';
    } else {
      const [fresh] = await tx<{ id: string }[]>`
        INSERT INTO reactions (user_id, target, day, created_at) VALUES (${o.userId}, ${target}, ${day}, ${o.now})
        ON CONFLICT (user_id, target) DO NOTHING RETURNING id`;
      if (!fresh) {
        // Reacted before: only the switch moves, never the money.
        const [row] =
          o.want === 'toggle'
            ? await tx<{ active: boolean }[]>`
                UPDATE reactions SET active = NOT active, updated_at = now() WHERE user_id = ${o.userId} AND target = ${target} RETURNING active`
            : await tx<{ active: boolean }[]>`
                UPDATE reactions SET active = true, updated_at = now() WHERE user_id = ${o.userId} AND target = ${target} AND NOT active RETURNING active`;
        outcome = !row ? 'unchanged' : row.active ? 'again' : 'removed';
      } else {
        try {
          const grant = await grantBesitos(tx, {
            userId: o.userId,
            amount: reactionBesitos(),
            source: 'reaction',
            idempotencyKey: `reaction:${fresh.id}`,
            description: o.target.kind === 'post' ? 'Reacción a una publicación' : 'Reacción en un grupo',
            person: o.person,
            // Once per person and target: another account of theirs (after /borrar) reacting again earns nothing.
            firstTime: `reaction:${target}`,
            now: o.now,
            timeZone: o.timeZone,
          });
          await tx`UPDATE reactions SET rewarded = true, transaction_id = ${grant.entry.id} WHERE id = ${fresh.id}`;
          outcome = 'rewarded';
          balance = grant.entry.balanceAfter;
        } catch (err) {
          // The refused grant wrote nothing and leaves the transaction usable: the reaction stays, unpaid.
          if (err instanceof AlreadyRewarded) outcome = 'again';
          else if (!(err instanceof CapReached)) throw err;
          else {
            outcome = 'capped';
            cap = err;
          }
        }
      }
    }
    // The live count shows on a post's button; group messages show Telegram's own reactions.
    const [c] = o.target.kind === 'post' ? await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM reactions WHERE target = ${target} AND active` : [{ n: 0 }];
    return { outcome, count: c!.n, ...(balance !== undefined ? { balance } : {}), ...(cap ? { cap } : {}) };
  });
}

/** Live reactions on a target (the button's figure). */
export async function reactionCount(db: Queryable, target: ReactionTarget): Promise<number> {
  const [c] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM reactions WHERE target = ${targetKey(target)} AND active`;
  return c!.n;
}

/**
 * /borrar: the account's reactions are taken back (the counts on buttons drop at the next refresh);
 * unpaid ones go, paid ones stay as the proof of their ledger grant (internal ids only, like the
 * ledger: the anomaly job checks every reaction grant has its row). The cap counter is named by the
 * pseudonym and stays (issue 16).
 */
registerErasureHook({
  name: 'reactions',
  erase: async (tx, ids) => {
    await tx`DELETE FROM reactions WHERE user_id = ${ids.userId} AND NOT rewarded`;
    await tx`UPDATE reactions SET active = false, updated_at = now() WHERE user_id = ${ids.userId}`;
  },
  export: async (db, ids) => db`SELECT target, active, rewarded, day::text, created_at FROM reactions WHERE user_id = ${ids.userId} ORDER BY id`,
});
