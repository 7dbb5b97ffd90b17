import type postgres from 'postgres';
import type { Queryable, Sql } from '../db/client.js';
import { withTransaction } from '../db/transaction.js';
import type { KeyValueStore } from '../kv/types.js';
import type { Logger } from '../log.js';
import { sessionKey, sessionPattern, sessionTombstone, type SessionStore } from './session.js';
import { loadFullSections, type StateProviders, type UserState } from './state.js';

export interface ErasureIds {
  userId: number;
  telegramId: number;
  /** When the account was created: with userId, names its sessions (lib/users/session.ts). Read from the row when absent. */
  createdAt?: Date;
  /** The person's abuse-prevention pseudonym and the update that confirmed the erasure. */
  person?: string;
  updateId?: number;
  /** The injected clock's time of the erasure (hooks stamp what they release with it). Default: the wall clock. */
  now?: Date;
}

/**
 * What other modules add to /borrar without editing this file: an SQL step run in the erasure
 * transaction (delete or blank their personal rows) and key-value patterns to delete.
 */
export interface ErasureHook {
  name: string;
  erase?: (tx: postgres.TransactionSql<{}>, ids: ErasureIds) => Promise<void>;
  keyPatterns?: (ids: ErasureIds) => string[];
  /** Key-value cleanup beyond whole keys (e.g. leaving a ranking's sorted set), after the commit. */
  afterErase?: (kv: KeyValueStore, ids: ErasureIds) => Promise<void>;
  /** Extra data for /exportar under this name. */
  export?: (db: Queryable, ids: ErasureIds) => Promise<unknown>;
}

export const erasureHooks: ErasureHook[] = [];
export function registerErasureHook(hook: ErasureHook): void {
  if (erasureHooks.some((h) => h.name === hook.name)) return;
  erasureHooks.push(hook);
}

/** Every key-value pattern that may hold a user's data. */
export function personalKeyPatterns(ids: ErasureIds & { createdAt: Date }): string[] {
  // Rate-limit keys name the person by pseudonym and hold no personal data: they stay, so erasing
  // does not reset anyone's budget.
  return [
    sessionPattern({ id: ids.userId, createdAt: ids.createdAt }),
    `daily:${ids.userId}:*`,
    ...erasureHooks.flatMap((h) => h.keyPatterns?.(ids) ?? []),
  ];
}

/**
 * /borrar. In one transaction that locks the user row (every writer for this user holds it FOR KEY SHARE
 * and checks the account is alive: lib/users/guard.ts, so a write in flight either commits before
 * and is blanked here, or comes after and is refused): the user row loses its Telegram id, names,
 * username, language and metadata (the internal id stays, so the append-only ledger keeps its
 * references and totals); action details are blanked; the update inbox rows from this Telegram id lose
 * their sender and payload, and so do failed updates of others that mention the user's id, @username
 * or names; the person's pseudonym stays on the row (users.person: per-person caps and first-time
 * rewards, pruned by lib/users/retention.ts) and is recorded with this update's id (erasures), so updates sent
 * before this one can't register the person again. Then the sessions are closed to writes and the
 * key-value entries (sessions, notices, caches) deleted. A later message creates a new user.
 * Returns erased=false when the account was already erased (a second tap on the button).
 */
export async function eraseUser(db: Sql, kv: KeyValueStore, ids: ErasureIds, log?: Logger): Promise<{ erased: boolean; keysDeleted: number | null }> {
  let createdAt = ids.createdAt;
  const erased = await withTransaction(db, async (tx) => {
    const [u] = await tx<{ username: string | null; first_name: string | null; last_name: string | null; created_at: Date }[]>`
      SELECT username, first_name, last_name, created_at FROM users WHERE id = ${ids.userId} AND deleted_at IS NULL FOR UPDATE`;
    if (!u) return false;
    createdAt = new Date(u.created_at);
    await tx`
      UPDATE users SET telegram_id = NULL, username = NULL, first_name = NULL, last_name = NULL, language_code = NULL,
                       metadata = '{}', deleted_at = now(), person = COALESCE(person, ${ids.person ?? null}::text)
       WHERE id = ${ids.userId}`;
    await tx`UPDATE actions SET params = '{}', result = NULL, error = NULL WHERE user_id = ${ids.userId}`;
    // Unlinked, not deleted: the rows still stop a redelivery of these updates (e.g. of this very
    // /borrar confirmation) from being handled again and registering the user anew.
    await tx`UPDATE telegram_updates SET from_id = NULL, payload = NULL WHERE from_id = ${ids.telegramId}`;
    // Failed updates of other users keep their payload for admins: drop those that mention this user
    // by id, @username or name (as JSON text, lower-cased: how the payload spells them).
    const needles = [String(ids.telegramId), u.username, u.first_name, u.last_name]
      .filter((x): x is string => Boolean(x && x.trim()))
      .map((x) => JSON.stringify(x.toLowerCase()).slice(1, -1));
    await tx`
      UPDATE telegram_updates SET payload = NULL
       WHERE payload IS NOT NULL
         AND EXISTS (SELECT 1 FROM unnest(${needles}::text[]) AS n WHERE strpos(lower(payload::text), n) > 0)`;
    if (ids.person) {
      await tx`
        INSERT INTO erasures (person, update_id) VALUES (${ids.person}, ${ids.updateId ?? 0})
        ON CONFLICT (person) DO UPDATE SET update_id = GREATEST(erasures.update_id, EXCLUDED.update_id), erased_at = now()`;
    }
    for (const hook of erasureHooks) await hook.erase?.(tx, ids);
    return true;
  });
  let keysDeleted: number | null = 0;
  if (!createdAt) return { erased, keysDeleted }; // erased before, and nobody said when it was created
  const owned = { ...ids, createdAt };
  try {
    // First close the sessions to writes (a handler of this user still running can't leave one), then delete.
    await kv.set(sessionTombstone({ id: ids.userId, createdAt }), '1', { ttlSeconds: 600 });
    for (const pattern of personalKeyPatterns(owned)) keysDeleted += await kv.delMatching(pattern);
    for (const hook of erasureHooks) await hook.afterErase?.(kv, owned);
  } catch (err) {
    // Everything there expires on its own (sessions within a day, caches within two days).
    log?.warn({ msg: 'erasure: key-value store unavailable, entries left to expire', user: ids.userId, error: String(err) });
    keysDeleted = null;
  }
  return { erased, keysDeleted };
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
  const keys = new Map(chatIds.map((chatId) => [sessionKey(state, chatId), chatId]));
  for (const [key, chatId] of keys) {
    const dump = await sessions.dump(key).catch(() => null);
    if (dump && Object.keys(dump).length) sessionData[String(chatId)] = dump;
  }
  const extra: Record<string, unknown> = {};
  const perPerson = await personData(db, state.id);
  if (perPerson) extra.per_person = perPerson;
  for (const hook of erasureHooks) if (hook.export) extra[hook.name] = await hook.export(db, { userId: state.id, telegramId: state.telegramId, createdAt: state.createdAt });
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

/**
 * What is kept per person rather than per account (users.person, the abuse pseudonym: sql/190) and so
 * outlives /borrar: the first-time rewards already collected (person_rewards, also by an earlier
 * account of theirs) and this day's and week's counts toward the caps (besitos_caps). The person's own
 * data, each with a Spanish line on why it is kept; the pseudonym itself is not shown (it names no one).
 */
async function personData(db: Queryable, userId: number): Promise<Record<string, unknown> | null> {
  const [u] = await db<{ person: string | null }[]>`SELECT person FROM users WHERE id = ${userId}`;
  if (!u?.person) return null;
  const rewards = await db<{ reward: string; user_id: string; paid_at: Date }[]>`
    SELECT reward, user_id, paid_at FROM person_rewards WHERE person = ${u.person} ORDER BY paid_at, reward`;
  const caps = await db<{ source: string; day: string; day_besitos: string; day_grants: number; week: string; week_besitos: string; week_grants: number }[]>`
    SELECT source, day::text, day_besitos, day_grants, week::text, week_besitos, week_grants FROM besitos_caps WHERE subject = ${u.person} ORDER BY source`;
  return {
    explicacion:
      'Estos datos se guardan por persona y no por cuenta, para prevenir fraudes: si borras tu cuenta y vuelves, siguen valiendo. ' +
      'Se identifican con un seudónimo que no contiene tu id de Telegram ni tu nombre, y se borran 180 días después de que ninguna cuenta tuya los use.',
    first_time_rewards: {
      explicacion:
        'Recompensas de primera vez que ya cobraste (logros, misiones, historia, trivias, reacciones): cada una se paga una sola vez por persona, ' +
        'también si la cobraste con una cuenta anterior tuya («this_account»: false).',
      rewards: rewards.map((r) => ({ reward: r.reward, paid_at: r.paid_at, this_account: Number(r.user_id) === userId })),
    },
    caps: {
      explicacion: 'Lo que llevas hoy y esta semana de cada fuente de besitos con tope diario o semanal (p. ej. 3 reacciones al día); se borra a las dos semanas.',
      sources: caps.map((c) => ({
        source: c.source,
        day: c.day,
        day_besitos: Number(c.day_besitos),
        day_grants: c.day_grants,
        week: c.week,
        week_besitos: Number(c.week_besitos),
        week_grants: c.week_grants,
      })),
    },
  };
}
