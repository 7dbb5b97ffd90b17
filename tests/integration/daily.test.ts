import { describe, expect, inject, it } from 'vitest';
import { claimDailyGift } from '../../lib/besitos/daily.js';
import { getBalance } from '../../lib/besitos/ledger.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import type { KeyValueStore } from '../../lib/kv/types.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';
import { skipped } from '../support/skips.js';

const db = useTestDb(30);
const redisUrl = inject('redisUrl');
const TZ = 'America/Mexico_City';

function deps(kv: KeyValueStore, at: string, timeZone = TZ) {
  return { db, kv, clock: () => new Date(at), timeZone, amount: 10 };
}

async function dailyRows(userId: number) {
  return db<{ day: string; streak: number }[]>`SELECT to_char(day, 'YYYY-MM-DD') AS day, streak FROM daily_claims WHERE user_id = ${userId} ORDER BY day`;
}

describe('daily gift', () => {
  it('twice the same day → one grant; the second request is told when to come back', async () => {
    const u = await userWithBesitos(db);
    const kv = createMemoryStore();
    const a = await claimDailyGift(deps(kv, '2026-03-10T15:00:00Z'), u, 'req-1');
    const b = await claimDailyGift(deps(kv, '2026-03-10T20:00:00Z'), u, 'req-2');
    expect(a).toMatchObject({ status: 'granted', streak: 1, balance: 10, day: '2026-03-10' });
    expect(b.status).toBe('already_claimed');
    // Next gift: local midnight in Mexico City (UTC-6, no DST since 2022) = 06:00 UTC.
    expect(a.nextClaimAt.toISOString()).toBe('2026-03-11T06:00:00.000Z');
    expect((await getBalance(db, u)).besitos).toBe(10);
  });

  it('the day boundary follows the configured zone, not UTC', async () => {
    const u = await userWithBesitos(db);
    const kv = createMemoryStore();
    // 05:59 UTC on the 11th is still the 10th in Mexico City; 06:00 UTC is the 11th.
    expect((await claimDailyGift(deps(kv, '2026-03-11T05:59:00Z'), u, 'r1')).day).toBe('2026-03-10');
    expect((await claimDailyGift(deps(kv, '2026-03-11T05:59:59Z'), u, 'r2')).status).toBe('already_claimed');
    const next = await claimDailyGift(deps(kv, '2026-03-11T06:00:00Z'), u, 'r3');
    expect(next).toMatchObject({ status: 'granted', day: '2026-03-11', streak: 2 });
    // Same instant, a zone east of UTC: already the 11th there.
    const v = await userWithBesitos(db);
    expect((await claimDailyGift(deps(kv, '2026-03-10T23:30:00Z', 'Europe/Madrid'), v, 'm1')).day).toBe('2026-03-11');
  });

  it('counts the streak over consecutive days and restarts it after a gap', async () => {
    const u = await userWithBesitos(db);
    const kv = createMemoryStore();
    for (const [i, day] of ['2026-05-01', '2026-05-02', '2026-05-03', '2026-05-05'].entries()) {
      await claimDailyGift(deps(kv, `${day}T18:00:00Z`), u, `s${i}`);
    }
    expect((await dailyRows(u)).map((r) => r.streak)).toEqual([1, 2, 3, 1]);
    expect((await getBalance(db, u)).besitos).toBe(40);
  });

  it('a retry of the same request gets the same "granted" answer, not "already claimed"', async () => {
    const u = await userWithBesitos(db);
    const kv = createMemoryStore();
    const first = await claimDailyGift(deps(kv, '2026-06-01T18:00:00Z'), u, 'update:1');
    const retry = await claimDailyGift(deps(kv, '2026-06-01T18:00:01Z'), u, 'update:1');
    expect(first.status).toBe('granted');
    expect(retry.status).toBe('granted');
    expect((await getBalance(db, u)).besitos).toBe(10);
  });

  it('a lost key-value entry neither doubles nor loses the gift', async () => {
    const u = await userWithBesitos(db);
    const kv = createMemoryStore();
    await claimDailyGift(deps(kv, '2026-07-01T18:00:00Z'), u, 'a');
    await kv.del(`daily:${u}:2026-07-01`);
    expect((await claimDailyGift(deps(kv, '2026-07-01T19:00:00Z'), u, 'b')).status).toBe('already_claimed');
    expect((await getBalance(db, u)).besitos).toBe(10);
  });

  it('an entry left by another account that had the same internal id (a reset database) does not block', async () => {
    const u = await userWithBesitos(db);
    const kv = createMemoryStore();
    const at = '2026-07-02T18:00:00Z';
    await kv.set(`daily:${u}:2026-07-02:${Date.parse('2020-01-01')}`, 'update:999|4');
    const r = await claimDailyGift(deps(kv, at), { id: u, createdAt: new Date('2026-01-01') }, 'update:1000');
    expect(r.status).toBe('granted');
    // …while this account's own entry does answer from the cache.
    const again = await claimDailyGift(deps(kv, at), { id: u, createdAt: new Date('2026-01-01') }, 'update:1001');
    expect(again.status).toBe('already_claimed');
    expect((await getBalance(db, u)).besitos).toBe(10);
  });

  it('Redis unreachable → still exactly one grant, also under 20 concurrent requests', async () => {
    const u = await userWithBesitos(db);
    const down = await createRedisStore('redis://127.0.0.1:1'); // nothing listens on port 1
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => claimDailyGift(deps(down, '2026-08-01T18:00:00Z'), u, `c${i}`)),
      );
      expect(results.filter((r) => r.status === 'granted')).toHaveLength(1);
      expect((await getBalance(db, u)).besitos).toBe(10);
      expect(await dailyRows(u)).toHaveLength(1);
      expect(await ledgerMismatches(db, [u])).toEqual([]);
    } finally {
      await down.close?.();
    }
  });

  it.skipIf(skipped('daily gift cache on a real Redis (integration/daily)', !redisUrl, 'REDIS_URL is not set (needs a real Redis server)'))('(needs REDIS_URL) with a real Redis the cache answers repeat requests and concurrency still grants once', async () => {
    const u = await userWithBesitos(db);
    const kv = await createRedisStore(redisUrl!);
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => claimDailyGift(deps(kv, '2026-09-01T18:00:00Z'), u, `k${i}`)),
      );
      expect(results.filter((r) => r.status === 'granted')).toHaveLength(1);
      const cached = await kv.get(`daily:${u}:2026-09-01`);
      expect(cached).toMatch(/^k\d+\|1$/);
      expect((await getBalance(db, u)).besitos).toBe(10);
    } finally {
      await kv.del(`daily:${u}:2026-09-01`);
      await kv.close?.();
    }
  });
});
