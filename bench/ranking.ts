/**
 * Benchmark — /ranking with 100,000 users in the sorted sets (issue 20): p50/p99 of one ranking read
 * (lib/gamification/ranking.ts rankingView: the board's marker, the top 15, the user's rank and score
 * — four Redis commands sent at once — and the names of the top in one SQL statement) against
 * baselines measured in the same run on the same Redis and Postgres:
 *  - a plain Redis GET (one round trip),
 *  - a Redis GET then a one-row SQL SELECT by primary key (the smallest read of the same shape),
 *  - the same board computed from Postgres (the fallback when Redis is down), fewer samples.
 * Also the rebuild of a 100,000-member board from Postgres (what the first /ranking after Redis was
 * emptied pays). Sequential requests from one client (latency, not throughput); random users.
 */
import { randomUUID } from 'node:crypto';
import { createDb } from '../lib/db/client.js';
import { createRedisStore } from '../lib/kv/redis.js';
import type { KeyValueStore } from '../lib/kv/types.js';
import { boardFromPostgres, rankingView, rebuildBoard } from '../lib/gamification/ranking.js';
import { boardKey, weekOf } from '../lib/gamification/rules-ranking.js';
import { prefixedStore } from '../tests/fault/kv-prefix.js';
import { createBenchDatabase, fmt, machine, percentile, QUICK, REDIS_URL } from './support.js';

const USERS = 100_000;
const SAMPLES = QUICK ? 1_000 : 5_000;
const FALLBACK_SAMPLES = QUICK ? 20 : 50;
const TZ = 'America/Mexico_City';

async function timed(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(200, n); i++) await op(i); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

const row = (name: string, s: number[]) => `| ${name} | ${s.length} | ${fmt(percentile(s, 50), 2)} | ${fmt(percentile(s, 99), 2)} |`;

async function main() {
  console.log(`# /ranking with ${fmt(USERS)} users in the sorted sets\n${machine()}\n`);
  const bench = await createBenchDatabase('ranking');
  const db = createDb(bench.url, { max: 4 });
  const redis = await createRedisStore(REDIS_URL);
  const kv: KeyValueStore = prefixedStore(redis, `bench-ranking-${randomUUID()}:`);
  const now = new Date();
  try {
    // 100,000 users with grants this week (the ledger's shape: a grant row per user, balances equal).
    const [{ first }] = (await db`
      WITH u AS (
        INSERT INTO users (telegram_id, first_name) SELECT 800000000 + g, 'Jugador' || g FROM generate_series(1, ${USERS}) g RETURNING id
      ), b AS (
        INSERT INTO user_balances (user_id, besitos, lifetime_besitos)
        SELECT id, 1 + (id * 7919) % 50000, 1 + (id * 7919) % 50000 FROM u
      ), t AS (
        INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key, created_at)
        SELECT id, 1 + (id * 7919) % 50000, 'grant', 'admin', 1 + (id * 7919) % 50000, 'bench:' || id, ${now} FROM u
      )
      SELECT min(id)::int AS first FROM u`) as unknown as [{ first: number }];
    await db`ANALYZE`;
    const user = (i: number) => first + ((i * 104_729) % USERS);

    const rebuild: Record<string, number> = {};
    for (const board of ['all', 'week'] as const) {
      const t0 = performance.now();
      if (!(await rebuildBoard(db, kv, board, now, TZ))) throw new Error('rebuild refused');
      rebuild[board] = performance.now() - t0;
      const members = await kv.zcard(boardKey(board, weekOf(now, TZ)));
      if (members !== USERS) throw new Error(`${board}: ${members} members`);
    }
    await kv.set('baseline', 'x');

    // Interleaved (GET, GET + SQL, weekly, all-time for each sample): load from other processes on the
    // machine falls on all four alike, so the ratios hold even when the absolute figures move.
    const ops: Record<'get' | 'getSql' | 'week' | 'all', (i: number) => Promise<unknown>> = {
      get: () => kv.get('baseline'),
      getSql: async (i) => {
        await kv.get('baseline');
        await db`SELECT id, first_name FROM users WHERE id = ${user(i)}`;
      },
      week: (i) => rankingView(db, kv, { userId: user(i), board: 'week', now, timeZone: TZ }),
      all: (i) => rankingView(db, kv, { userId: user(i), board: 'all', now, timeZone: TZ }),
    };
    const samples = { get: [] as number[], getSql: [] as number[], week: [] as number[], all: [] as number[] };
    for (let i = -200; i < SAMPLES; i++) {
      for (const name of ['get', 'getSql', 'week', 'all'] as const) {
        const t0 = performance.now();
        await ops[name](Math.abs(i));
        if (i >= 0) samples[name].push(performance.now() - t0);
      }
    }
    const [get, getSql, week, all] = (['get', 'getSql', 'week', 'all'] as const).map((k) => samples[k].sort((a, b) => a - b)) as [number[], number[], number[], number[]];
    const fallback = await timed(FALLBACK_SAMPLES, () => boardFromPostgres(db, 'week', now, TZ));

    const check = await rankingView(db, kv, { userId: user(1), board: 'all', now, timeZone: TZ });
    if (check.source !== 'redis' || check.top.length !== 10 || !check.me) throw new Error('unexpected view');

    console.log('| Operation | Samples | p50 ms | p99 ms |\n|---|---|---|---|');
    console.log(row('Redis GET (baseline)', get));
    console.log(row('Redis GET + SQL by primary key (baseline)', getSql));
    console.log(row('/ranking weekly (rankingView)', week));
    console.log(row('/ranking all-time (rankingView)', all));
    console.log(row('weekly board computed from Postgres (fallback)', fallback));
    const p99 = (s: number[]) => percentile(s, 99);
    console.log(`\n/ranking p99 / Redis GET p99: weekly ${fmt(p99(week) / p99(get), 1)}×, all-time ${fmt(p99(all) / p99(get), 1)}×`);
    console.log(`/ranking p99 / (GET + SQL) p99: weekly ${fmt(p99(week) / p99(getSql), 2)}×, all-time ${fmt(p99(all) / p99(getSql), 2)}×`);
    console.log(`Postgres fallback p99 / /ranking p99 (weekly): ${fmt(p99(fallback) / p99(week), 0)}×`);
    console.log(`Rebuild of a ${fmt(USERS)}-member board from Postgres: all-time ${fmt(rebuild.all!)} ms, weekly ${fmt(rebuild.week!)} ms`);
  } finally {
    await kv.delMatching('*').catch(() => {});
    await redis.close?.();
    await db.end({ timeout: 5 });
    await bench.drop();
  }
}

await main();
