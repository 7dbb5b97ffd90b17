import { afterAll, describe, expect, inject, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { rankingRebuildJob } from '../../lib/gamification/ranking-rebuild.js';
import { rebuildBoard } from '../../lib/gamification/ranking.js';
import { boardKey, builtMarker, weekOf, type Board } from '../../lib/gamification/rules-ranking.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { schedule } from '../../lib/scheduler/index.js';
import { prefixedStore } from '../fault/kv-prefix.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { skipped } from '../support/skips.js';
import { buttonsOf, lastTo } from '../support/users.js';

/**
 * The hourly ranking rebuild (lib/gamification/ranking-rebuild.ts) on the app's scheduler, real
 * Postgres and Redis: a sweep schedules and runs it; an emptied Redis and a drifted set are made equal
 * to a SQL recomputation of the ledger; a second run changes nothing; an erased user put back by a
 * stale write is removed, run after run.
 */
const redisUrl = inject('redisUrl');
const base = redisUrl ? await createRedisStore(redisUrl) : createMemoryStore();
afterAll(() => base.close?.());
const kv = prefixedStore(base, `rank-rebuild-${process.pid}-${Date.now()}:`);
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' }, { kv });
const down = await createRedisStore('redis://127.0.0.1:1');
const broken = await startTestApp({}, { kv: down });
afterAll(() => down.close?.());
const db = t.app.db;
const TZ = t.app.config.timeZone;

const settle = () => t.settle({ jobs: false });

let n = 0;
async function player(besitos: number) {
  const tg = uniqueTelegramId();
  await t.post(textUpdate(tg, '/start', { firstName: `Rb${++n}` }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  const id = Number(row!.id);
  await grantBesitos(db, { userId: id, amount: besitos, source: 'admin', idempotencyKey: `rank-rebuild:${id}` });
  return { tg, id };
}

/** The boards recomputed in SQL from the ledger, independently of lib/gamification. */
async function sqlBoard(board: Board) {
  const w = weekOf(new Date(), TZ);
  const since = board === 'week' ? w.start : new Date(0);
  const until = board === 'week' ? w.end : new Date(Date.UTC(9999, 0));
  const rows = await db<{ user_id: string; score: string }[]>`
    SELECT t.user_id, sum(t.amount) AS score
      FROM transactions t JOIN users u ON u.id = t.user_id
      LEFT JOIN transactions o ON o.id = t.reverses
     WHERE u.deleted_at IS NULL AND t.created_at >= ${since} AND t.created_at < ${until}
       AND (t.type = 'grant' OR (t.type = 'reversal' AND o.type = 'grant'))
     GROUP BY t.user_id HAVING sum(t.amount) > 0
     ORDER BY sum(t.amount) DESC, t.user_id::text DESC`;
  return rows.map((r) => ({ userId: Number(r.user_id), score: Number(r.score) }));
}

const keyOf = (board: Board) => boardKey(board, weekOf(new Date(), TZ));
const setOf = async (board: Board) => (await kv.zrevrange(keyOf(board), 0, -1)).map((m) => ({ userId: Number(m.member), score: m.score }));

let runs = 0;
/** Runs the job once through the app's scheduler (its own key: the hourly one may have run already). */
async function runJob() {
  const key = `${rankingRebuildJob.kind}:test-${++runs}`;
  await schedule(db, { kind: rankingRebuildJob.kind, key, dueAt: new Date(), payload: {} });
  expect(await t.app.scheduler.runJob(key)).toBe('done');
}

describe('the hourly ranking rebuild', () => {
  it.skipIf(skipped('hourly ranking rebuild on a sweep', !redisUrl, 'no REDIS_URL: the in-memory store gets no hourly rebuild'))('a sweep schedules it for the hour and runs it: an emptied Redis is rebuilt from Postgres', async () => {
    for (let i = 0; i < 6; i++) await player(100 + i * 7);
    await settle();
    for (const b of ['all', 'week'] as const) await kv.del(keyOf(b), builtMarker(keyOf(b)));
    await t.app.scheduler.sweep();
    const hour = new Date().toISOString().slice(0, 13);
    const [job] = await db<{ status: string }[]>`SELECT state AS status FROM scheduled_jobs WHERE key = ${`${rankingRebuildJob.kind}:${hour}`}`;
    expect(job?.status).toBe('done');
    for (const b of ['all', 'week'] as const) {
      expect((await sqlBoard(b)).length).toBeGreaterThanOrEqual(6);
      expect(await setOf(b)).toEqual(await sqlBoard(b));
      expect(await kv.get(builtMarker(keyOf(b)))).not.toBeNull();
    }
  });

  it('a drifted set (wrong score, missing member, a member that is no user) is healed; run twice, the same board and nothing written', async () => {
    if ((await sqlBoard('all')).length < 2) for (let i = 0; i < 2; i++) await player(100 + i);
    await settle();
    const [a, b] = (await sqlBoard('all')).slice(0, 2);
    await kv.zadd(keyOf('all'), [{ member: String(a!.userId), score: 1 }, { member: 'not-a-user', score: 999_999 }]);
    await kv.zrem(keyOf('week'), String(b!.userId));
    await runJob();
    const once = { all: await setOf('all'), week: await setOf('week') };
    expect(once.all).toEqual(await sqlBoard('all'));
    expect(once.week).toEqual(await sqlBoard('week'));
    await runJob();
    expect({ all: await setOf('all'), week: await setOf('week') }).toEqual(once);
    // Nothing to write when the set already equals Postgres.
    for (const board of ['all', 'week'] as const) expect(await rebuildBoard(db, kv, board, new Date(), TZ)).toEqual({ written: 0, removed: 0 });
  });

  it('an erased user never reappears: a stale write puts them back, every run removes them, /ranking never shows them', async () => {
    const gone = await player(50_000);
    const witness = await player(1);
    await settle();
    expect((await setOf('all'))[0]!.userId).toBe(gone.id);
    await t.post(textUpdate(gone.tg, '/borrar'));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', gone.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
    await t.post(callbackUpdate(gone.tg, yes));
    for (let round = 0; round < 2; round++) {
      // An instance that stalled before the erasure writes its old score back.
      for (const b of ['all', 'week'] as const) await kv.zadd(keyOf(b), [{ member: String(gone.id), score: 50_000 }]);
      await runJob();
      for (const b of ['all', 'week'] as const) {
        expect(await kv.zscore(keyOf(b), String(gone.id))).toBeNull();
        expect(await setOf(b)).toEqual(await sqlBoard(b));
      }
    }
    await t.post(textUpdate(witness.tg, '/ranking'));
    const text = String(lastTo(t.telegram, 'sendMessage', witness.tg, /Ranking semanal/)?.payload.text);
    expect(text).not.toContain((50_000).toLocaleString('es-MX'));
    expect(text).toMatch(/🥇 Rb\d+ — /);
  });

  it('with the store down the job ends without failing (the next hour heals), no retry loop', async () => {
    const key = `${rankingRebuildJob.kind}:down-test`;
    await schedule(broken.app.db, { kind: rankingRebuildJob.kind, key, dueAt: new Date(), payload: {} });
    expect(await broken.app.scheduler.runJob(key)).toBe('done');
    const [job] = await db<{ status: string; attempts: number }[]>`SELECT state AS status, attempts FROM scheduled_jobs WHERE key = ${key}`;
    expect(job).toMatchObject({ status: 'done', attempts: 1 });
  });
});
