import type { Queryable } from '../db/client.js';
import { RetryTransaction, withTransaction } from '../db/transaction.js';
import type { KeyValueStore } from '../kv/types.js';
import { addDays, localDate, startOfNextLocalDay, type Clock } from '../time/zone.js';
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

const cacheKey = (userId: number, day: string) => `daily:${userId}:${day}`;

/**
 * The daily gift. The ledger key daily:<user>:<day> and the daily_claims row are the truth. The
 * key-value entry is only a cache written after the commit ("claimed today, streak N"), so it can
 * save the database a trip but can neither double the gift (it is never the gate for granting)
 * nor lose it (a missing or stale entry just sends the request to the database).
 * requestKey identifies the request (the Telegram update): its retry gets the same answer.
 */
export async function claimDailyGift(deps: DailyDeps, userId: number, requestKey: string): Promise<DailyResult> {
  const now = deps.clock();
  const day = localDate(now, deps.timeZone);
  const nextClaimAt = startOfNextLocalDay(now, deps.timeZone);
  const key = cacheKey(userId, day);

  const cached = await deps.kv.get(key).catch((err) => {
    deps.log?.({ msg: 'kv unavailable, daily gift goes to the database', error: String(err) });
    return null;
  });
  if (cached) {
    const [claimedBy, streak] = cached.split('|');
    if (claimedBy !== requestKey) {
      return { status: 'already_claimed', amount: deps.amount, streak: Number(streak) || 1, balance: null, nextClaimAt, day };
    }
  }

  const result = await withTransaction(deps.db, async (tx) => {
    const [today] = await tx<{ streak: number; request_key: string }[]>`
      SELECT streak, request_key FROM daily_claims WHERE user_id = ${userId} AND day = ${day}`;
    if (today) {
      return {
        status: today.request_key === requestKey ? ('granted' as const) : ('already_claimed' as const),
        streak: today.streak,
        requestKey: today.request_key,
        balance: null,
      };
    }
    const [yesterday] = await tx<{ streak: number }[]>`
      SELECT streak FROM daily_claims WHERE user_id = ${userId} AND day = ${addDays(day, -1)}`;
    const streak = (yesterday?.streak ?? 0) + 1;
    const grant = await grantBesitos(tx, {
      userId,
      amount: deps.amount,
      source: 'daily',
      idempotencyKey: `daily:${userId}:${day}`,
      description: `Regalo diario (racha ${streak})`,
      metadata: { day, streak },
    });
    // A concurrent request claimed today between our read and the grant: start over and read its row.
    if (grant.replayed) throw new RetryTransaction('daily gift claimed concurrently');
    await tx`
      INSERT INTO daily_claims (user_id, day, streak, transaction_id, request_key)
      VALUES (${userId}, ${day}, ${streak}, ${grant.entry.id}, ${requestKey})`;
    return { status: 'granted' as const, streak, requestKey, balance: grant.entry.balanceAfter };
  });

  await deps.kv
    .set(key, `${result.requestKey}|${result.streak}`, {
      ttlSeconds: Math.max(60, Math.ceil((nextClaimAt.getTime() - now.getTime()) / 1000) + 3600),
      onlyIfAbsent: true,
    })
    .catch(() => {});
  return { status: result.status, amount: deps.amount, streak: result.streak, balance: result.balance, nextClaimAt, day };
}
