import type postgres from 'postgres';
import type { Queryable, Sql } from '../db/client.js';
import { withTransaction } from '../db/transaction.js';
import type { KeyValueStore } from '../kv/types.js';
import type { Logger } from '../log.js';
import { rateLimitPatterns } from '../ratelimit/index.js';
import { sessionKey, sessionPattern, type SessionStore } from './session.js';
import { loadFullSections, type StateProviders, type UserState } from './state.js';

export interface ErasureIds {
  userId: number;
  telegramId: number;
}

/**
 * What other modules add to /borrar without editing this file: an SQL step run in the erasure
 * transaction (delete or blank their personal rows) and key-value patterns to delete.
 */
export interface ErasureHook {
  name: string;
  erase?: (tx: postgres.TransactionSql<{}>, ids: ErasureIds) => Promise<void>;
  keyPatterns?: (ids: ErasureIds) => string[];
  /** Extra data for /exportar under this name. */
  export?: (db: Queryable, ids: ErasureIds) => Promise<unknown>;
}

export const erasureHooks: ErasureHook[] = [];
export function registerErasureHook(hook: ErasureHook): void {
  if (erasureHooks.some((h) => h.name === hook.name)) return;
  erasureHooks.push(hook);
}

/** Every key-value pattern that may hold a user's data. */
export function personalKeyPatterns(ids: ErasureIds): string[] {
  return [
    sessionPattern(ids.telegramId),
    ...rateLimitPatterns(ids.telegramId),
    `ban:${ids.telegramId}`,
    `daily:${ids.userId}:*`,
    ...erasureHooks.flatMap((h) => h.keyPatterns?.(ids) ?? []),
  ];
}

/**
 * /borrar. In one transaction: the user row loses its Telegram id, names, username, language and
 * metadata (the internal id stays, so the append-only ledger keeps its references and totals);
 * action details are blanked; the update inbox rows from this Telegram id lose their sender and payload. Then the
 * key-value entries (sessions, rate limits, notices, caches) are deleted. A later message from the
 * same Telegram id creates a new user.
 */
export async function eraseUser(db: Sql, kv: KeyValueStore, ids: ErasureIds, log?: Logger): Promise<{ keysDeleted: number | null }> {
  await withTransaction(db, async (tx) => {
    await tx`
      UPDATE users SET telegram_id = NULL, username = NULL, first_name = NULL, last_name = NULL, language_code = NULL,
                       metadata = '{}', deleted_at = now()
       WHERE id = ${ids.userId}`;
    await tx`UPDATE actions SET params = '{}', result = NULL, error = NULL WHERE user_id = ${ids.userId}`;
    // Unlinked, not deleted: the rows still stop a redelivery of these updates (e.g. of this very
    // /borrar confirmation) from being handled again and registering the user anew.
    await tx`UPDATE telegram_updates SET from_id = NULL, payload = NULL WHERE from_id = ${ids.telegramId}`;
    // Failed updates of other users keep their payload for admins: drop those that mention this user.
    await tx`UPDATE telegram_updates SET payload = NULL
              WHERE payload IS NOT NULL AND strpos(payload::text, ${String(ids.telegramId)}) > 0`;
    for (const hook of erasureHooks) await hook.erase?.(tx, ids);
  });
  let keysDeleted: number | null = 0;
  try {
    for (const pattern of personalKeyPatterns(ids)) keysDeleted += await kv.delMatching(pattern);
  } catch (err) {
    // Everything there expires on its own (sessions within a day, rate limits within two windows).
    log?.warn({ msg: 'erasure: key-value store unavailable, entries left to expire', user: ids.userId, error: String(err) });
    keysDeleted = null;
  }
  return { keysDeleted };
}

/**
 * Fields of an action that describe another person (a gift's receiver: their internal id, their
 * balance after it, their ledger row): left out of /exportar, which holds only the user's own data.
 */
const OTHERS_FIELDS: Record<string, { params?: string[]; result?: string[] }> = {
  gift: { params: ['toUserId'], result: ['receiverBalance', 'creditId'] },
};

function ownView(
  action: { name: string; params: unknown; result: unknown },
  ownLedgerIds: Set<number>,
): { params: unknown; result: unknown } {
  const drop = OTHERS_FIELDS[action.name];
  const without = (v: unknown, keys: string[] = []) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).filter(([k]) => !keys.includes(k))) : v;
  let result = without(action.result, drop?.result);
  // An undo's result lists the compensating rows of both people: keep the user's own.
  if (result && typeof result === 'object' && Array.isArray((result as { reversalIds?: unknown }).reversalIds)) {
    const r = result as { reversalIds: number[] };
    result = { ...r, reversalIds: r.reversalIds.filter((id) => ownLedgerIds.has(Number(id))) };
  }
  return { params: without(action.params, drop?.params), result };
}

/** /exportar: everything stored about the user (and nothing about anyone else), as one JSON-serialisable object. */
export async function exportUserData(
  db: Sql,
  sessions: SessionStore,
  state: UserState,
  chatIds: number[],
  providers?: StateProviders,
): Promise<Record<string, unknown>> {
  const [profile] = await db`
    SELECT id AS internal_id, telegram_id, username, first_name, last_name, language_code, status, metadata,
           created_at, last_active_at
      FROM users WHERE id = ${state.id}`;
  const [balance] = await db`SELECT besitos, lifetime_besitos, updated_at FROM user_balances WHERE user_id = ${state.id}`;
  const ledger = await db`
    SELECT id, amount, type, source, description, metadata, balance_after, reverses, created_at
      FROM transactions WHERE user_id = ${state.id} ORDER BY id`;
  const daily = await db`SELECT day::text, streak, claimed_at FROM daily_claims WHERE user_id = ${state.id} ORDER BY day`;
  const ownLedgerIds = new Set(ledger.map((r) => Number(r.id)));
  const actions = (
    await db`
    SELECT id, name, status, params, result, error, created_at, completed_at, undo_until, undone_at, undo_of
      FROM actions WHERE user_id = ${state.id} ORDER BY id`
  ).map((a) => ({ ...a, ...ownView(a as { name: string; params: unknown; result: unknown }, ownLedgerIds) }));
  const sessionData: Record<string, unknown> = {};
  for (const chatId of new Set(chatIds)) {
    const dump = await sessions.dump(sessionKey(state.telegramId, chatId)).catch(() => null);
    if (dump && Object.keys(dump).length) sessionData[String(chatId)] = dump;
  }
  const extra: Record<string, unknown> = {};
  for (const hook of erasureHooks) if (hook.export) extra[hook.name] = await hook.export(db, { userId: state.id, telegramId: state.telegramId });
  return {
    exported_at: new Date().toISOString(),
    profile,
    balance: balance ?? null,
    streak: { current: state.streak, last_day: state.lastDailyDay },
    progress: await loadFullSections(db, state, providers),
    ledger,
    daily_claims: daily,
    actions,
    sessions: sessionData,
    ...extra,
  };
}
