import type postgres from 'postgres';
import type { Queryable, Sql } from '../db/client.js';
import { RetryTransaction, withTransaction } from '../db/transaction.js';
import type { KeyValueStore } from '../kv/types.js';
import { addDays, localDate, startOfNextLocalDay, type Clock } from '../time/zone.js';
import { CapReached, GuardRefused } from './errors.js';
import { grantBesitos } from './ledger.js';

export interface DailyDeps {
  db: Queryable;
  kv: KeyValueStore;
  clock: Clock;
  timeZone: string;
  amount: number;
  log?: (line: Record<string, unknown>) => void;
}

export interface DailyResult {
  /** granted: this request got the gift (also when it is a retry of the request that got it). */
  status: 'granted' | 'already_claimed';
  amount: number;
  streak: number;
  balance: number | null;
  nextClaimAt: Date;
  day: string;
}

/**
 * Who claims: an internal user id, or the account with its creation time. The cache key then names
 * this incarnation of the account, so an entry left in a shared Redis by another database that
 * reused the id (a reset dev database, a test run, a restored backup) can't turn the user away.
 */
export type DailyAccount = number | { id: number; createdAt: Date };

function cacheKey(account: DailyAccount, day: string): string {
  return typeof account === 'number' ? `daily:${account}:${day}` : `daily:${account.id}:${day}:${account.createdAt.getTime()}`;
}
const idOf = (account: DailyAccount) => (typeof account === 'number' ? account : account.id);

/**
 * The daily gift. The ledger key daily:<user>:<day> and the daily_claims row are the truth. The
 * key-value entry is only a cache written after the commit ("claimed today by request R, streak N"),
 * so it can save the database a trip but can neither double the gift (it is never the gate for
 * granting) nor lose it (a missing entry just sends the request to the database).
 * requestKey identifies the request (the Telegram update): its retry gets the same answer.
 */
export async function claimDailyGift(deps: DailyDeps, account: DailyAccount, requestKey: string): Promise<DailyResult> {
  const cached = await peekDailyGift(deps, account, requestKey);
  if (cached) return cached;
  const result = await grantDailyGift(deps, idOf(account), requestKey);
  await rememberDailyClaim(deps, account, result, requestKey);
  return result;
}

/**
 * The answer from the user state the update already loaded (issue 18: no cache or database trip):
 * "already claimed" when the state's latest claim is today's and this is the update's first delivery
 * (so the claim can't be this request's own). null = ask the cache, then the database, as before.
 */
export function claimedTodayFromState(
  deps: Pick<DailyDeps, 'clock' | 'timeZone' | 'amount'>,
  state: { lastDailyDay: string | null; streak: number },
  firstDelivery: boolean,
): DailyResult | null {
  const now = deps.clock();
  const day = localDate(now, deps.timeZone);
  if (!firstDelivery || state.lastDailyDay !== day) return null;
  return { status: 'already_claimed', amount: deps.amount, streak: state.streak || 1, balance: null, nextClaimAt: startOfNextLocalDay(now, deps.timeZone), day };
}

/** The cache's answer when it already knows another request claimed today; null = ask the database. */
export async function peekDailyGift(deps: DailyDeps, account: DailyAccount, requestKey: string): Promise<DailyResult | null> {
  const now = deps.clock();
  const day = localDate(now, deps.timeZone);
  const cached = await deps.kv.get(cacheKey(account, day)).catch((err) => {
    deps.log?.({ msg: 'kv unavailable, daily gift goes to the database', error: String(err) });
    return null;
  });
  if (!cached) return null;
  const [claimedBy, streak] = cached.split('|');
  if (claimedBy === requestKey) return null; // a retry of the request that got it: answer from the database
  return {
    status: 'already_claimed',
    amount: deps.amount,
    streak: Number(streak) || 1,
    balance: null,
    nextClaimAt: startOfNextLocalDay(now, deps.timeZone),
    day,
  };
}

/**
 * The database part: grants today's gift once, or says who already got it. Runs in deps.db, which may
 * be the caller's transaction (the daily command records its action in the same one).
 * `person` (lib/users/pseudonym.ts) makes it one gift per person and day: an account that erased its
 * data and came back (a new user id) finds the claim of its previous incarnation and gets nothing.
 */
export async function grantDailyGift(deps: DailyDeps, userId: number, requestKey: string, person: string | null = null): Promise<DailyResult> {
  const now = deps.clock();
  const day = localDate(now, deps.timeZone);
  const nextClaimAt = startOfNextLocalDay(now, deps.timeZone);
  const result = await withTransaction(deps.db, async (tx) => {
    // Today's claim (this account's, or another incarnation's of the same person) and yesterday's
    // streak, in one statement (issue 18: one round trip fewer on every granted gift).
    const [read] = await tx<{ user_id: number | null; streak: number | null; request_key: string | null; yesterday_streak: number | null }[]>`
      SELECT t.user_id, t.streak, t.request_key,
             (SELECT streak FROM daily_claims WHERE user_id = ${userId} AND day = ${addDays(day, -1)}) AS yesterday_streak
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
          SELECT user_id, streak, request_key FROM daily_claims
           WHERE day = ${day} AND (user_id = ${userId} ${person ? tx`OR person = ${person}` : tx``})
           ORDER BY (user_id = ${userId}) DESC LIMIT 1) AS t ON true`;
    if (read?.user_id != null) {
      // Claimed by an erased incarnation: nothing of that account (its streak) carries over.
      if (Number(read.user_id) !== userId) return { status: 'already_claimed' as const, streak: 0, balance: null };
      return {
        status: read.request_key === requestKey ? ('granted' as const) : ('already_claimed' as const),
        streak: Number(read.streak),
        balance: null,
      };
    }
    const yesterday = read?.yesterday_streak == null ? undefined : { streak: Number(read.yesterday_streak) };
    const streak = (yesterday?.streak ?? 0) + 1;
    // The grant and the claim row in one statement (issue 18): the claim is written from the new ledger row.
    const grant = await grantBesitos(tx, {
      userId,
      ...dailyGrant(deps.amount, userId, day, streak),
      // The cap (one a day per person, lib/besitos/policy.ts) is counted in the grant's own statement.
      person,
      now,
      timeZone: deps.timeZone,
      alongside: tx`
        INSERT INTO daily_claims (user_id, day, streak, transaction_id, request_key, person)
        SELECT ${userId}, ${day}, ${streak}, ins.id, ${requestKey}, ${person} FROM ins
        ON CONFLICT DO NOTHING RETURNING 1`,
    });
    // A concurrent request claimed today between our read and the grant: start over and read its row.
    if (grant.replayed) throw new RetryTransaction('daily gift claimed concurrently');
    // Another incarnation of the same person claimed today concurrently: undo ours, read theirs.
    if (grant.alongsideRows === 0) throw new RetryTransaction('daily gift claimed concurrently by the same person');
    return { status: 'granted' as const, streak, balance: grant.entry.balanceAfter };
  });
  return { ...result, amount: deps.amount, nextClaimAt, day };
}

/** What both ways of granting the gift write on the ledger: one key per user and local day. */
const dailyGrant = (amount: number, userId: number, day: string, streak: number) => ({
  amount,
  source: 'daily' as const,
  idempotencyKey: `daily:${userId}:${day}`,
  description: `Regalo diario (racha ${streak})`,
  metadata: { day, streak },
});

/** The user's latest daily claim as the update's state load read it (UserState lastDailyDay and streak). */
export interface LatestClaim {
  day: string | null;
  /** The streak that claim left, when it is today's or yesterday's (UserState.streak: 0 otherwise). */
  streak: number;
}

/**
 * grantDailyGift in ONE statement (issue 18: no BEGIN/COMMIT, no read before the grant): the streak is
 * taken from the claim the update's state load already read, and the statement's guard re-checks
 * that reading — no claim today by this account or person, yesterday's streak as assumed — in the
 * statement's own snapshot, with `also.guard` (the command protocol's precondition) and `also.alongside`
 * (its action row) written in the same statement. Returns null, having written nothing, when it does
 * not apply: the reading was stale, the gift was claimed meanwhile (the ledger key, the claim row's
 * unique indexes or the per-person cap refuse it), the action key is used. The caller then runs
 * grantDailyGift, which reads and decides as always.
 */
export async function grantDailyGiftAtOnce(
  deps: Omit<DailyDeps, 'db'> & { db: Sql },
  userId: number,
  requestKey: string,
  person: string | null,
  latest: LatestClaim,
  also: { guard: postgres.PendingQuery<postgres.Row[]>; alongside: (result: postgres.PendingQuery<postgres.Row[]>) => postgres.PendingQuery<postgres.Row[]> },
): Promise<{ result: DailyResult; alongside: Record<string, unknown> } | null> {
  const db = deps.db;
  const now = deps.clock();
  const day = localDate(now, deps.timeZone);
  const yesterday = addDays(day, -1);
  if (latest.day !== null && latest.day >= day) return null;
  const yesterdayStreak = latest.day === yesterday ? latest.streak : null;
  if (yesterdayStreak === 0) return null; // the state says a claim yesterday without a live streak: let the read decide
  const streak = (yesterdayStreak ?? 0) + 1;
  const nextClaimAt = startOfNextLocalDay(now, deps.timeZone);
  const granted: Omit<DailyResult, 'balance'> = { status: 'granted', amount: deps.amount, streak, nextClaimAt, day };
  try {
    const grant = await grantBesitos(db, {
      userId,
      ...dailyGrant(deps.amount, userId, day, streak),
      person,
      now,
      timeZone: deps.timeZone,
      guard: db`${also.guard}
        AND NOT EXISTS (SELECT 1 FROM daily_claims WHERE user_id = ${userId} AND day = ${day})
        ${person ? db`AND NOT EXISTS (SELECT 1 FROM daily_claims WHERE person = ${person} AND day = ${day})` : db``}
        AND (SELECT streak FROM daily_claims WHERE user_id = ${userId} AND day = ${yesterday}) IS NOT DISTINCT FROM ${yesterdayStreak}::int`,
      // No ON CONFLICT on either row: a claim or action that committed meanwhile fails the whole statement.
      alongside: [
        db`INSERT INTO daily_claims (user_id, day, streak, transaction_id, request_key, person)
           SELECT ${userId}, ${day}, ${streak}, ins.id, ${requestKey}, ${person} FROM ins RETURNING 1`,
        also.alongside(db`${db.json(granted as never)}::jsonb || jsonb_build_object('balance', (SELECT balance_after FROM ins))`),
      ],
    });
    const [claim, action] = grant.alongsideEach ?? [];
    if (grant.replayed) return null;
    // Written with the grant or the statement failed: a missing row here would be a bug, and is loud.
    if (claim?.rows !== 1 || action?.rows !== 1 || !action.first) throw new Error('daily gift: statement wrote the grant without its rows');
    return { result: { ...granted, balance: grant.entry.balanceAfter }, alongside: action.first };
  } catch (err) {
    if (err instanceof GuardRefused || err instanceof CapReached || (err as { code?: string }).code === '23505') return null;
    throw err;
  }
}

/**
 * Caches "claimed today" — call only after the claim committed: written earlier, a rolled-back claim
 * would make the cache turn the user away for the rest of the day.
 */
export async function rememberDailyClaim(deps: DailyDeps, account: DailyAccount, r: DailyResult, requestKey: string): Promise<void> {
  if (r.status !== 'granted') return; // the granting request's own entry is what the cache needs
  const now = deps.clock();
  await deps.kv
    .set(cacheKey(account, r.day), `${requestKey}|${r.streak}`, {
      ttlSeconds: Math.max(60, Math.ceil((new Date(r.nextClaimAt).getTime() - now.getTime()) / 1000) + 3600),
      onlyIfAbsent: true,
    })
    .catch(() => {});
}
