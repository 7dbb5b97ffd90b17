/**
 * lib/scheduler against the real Postgres: scheduling in the caller's transaction, runs exactly once
 * under concurrency, leases that follow the injected clock, retries and failures, lateness.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../../lib/log.js';
import { cancel, createScheduler, JobHandlers, reschedule, schedule, InvalidJobPayload, UnknownJobKind } from '../../lib/scheduler/index.js';
import { claimDue } from '../../lib/scheduler/repository.js';
import { runClaimed, type RunnerDeps } from '../../lib/scheduler/runner.js';
import { useTestDb } from '../support/db.js';

const db = useTestDb(8);
const T0 = new Date('2026-03-01T12:00:00Z');
let now = T0;
const clock = () => new Date(now);
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;

const handlers = new JobHandlers();
/** Every run of the test kinds leaves a row here, in the run's transaction. */
const runs: { key: string; lateMs: number; attempt: number }[] = [];
let failUntilAttempt = 0;
let pause: { reached: (pid: number) => void; release: Promise<void> } | null = null;

handlers.register({
  kind: 'test.effect',
  payload: z.object({ n: z.number().int() }),
  async run(tx, payload, ctx) {
    await tx`INSERT INTO job_effects (key, n, late_ms) VALUES (${ctx.key}, ${payload.n}, ${ctx.lateMs})`;
    if (pause) {
      const [row] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      pause.reached(row!.pid);
      await pause.release;
    }
    if (ctx.attempt <= failUntilAttempt) throw new Error(`boom on attempt ${ctx.attempt}`);
    runs.push({ key: ctx.key, lateMs: ctx.lateMs, attempt: ctx.attempt });
  },
  maxAttempts: 3,
  backoffSeconds: (n) => 10 * n,
});
handlers.register({
  kind: 'test.reminder',
  payload: z.object({ deadline: z.iso.datetime() }),
  // A reminder already past its deadline skips itself; the expiry it announces does not.
  async run(tx, payload, ctx) {
    if (ctx.now.getTime() >= Date.parse(payload.deadline)) return;
    await tx`INSERT INTO job_effects (key, n, late_ms) VALUES (${ctx.key}, 0, ${ctx.lateMs})`;
  },
});

/** A job whose payload holds personal data (issue 16): blanked once it ran, or failed for good, never while retrying. */
let personalFails = 0;
handlers.register({
  kind: 'test.personal',
  payload: z.object({ telegramId: z.number().int() }),
  personalPayload: true,
  async run(tx, payload, ctx) {
    if (ctx.attempt <= personalFails) throw new Error('boom');
    await tx`INSERT INTO job_effects (key, n, late_ms) VALUES (${ctx.key}, ${payload.telegramId}, 0)`;
  },
  maxAttempts: 2,
  backoffSeconds: () => 1,
});

const deps = (extra: Partial<RunnerDeps> = {}): RunnerDeps => ({ db, log: silentLogger, clock, timeZone: 'UTC', handlers, ...extra });
const scheduler = createScheduler(deps());

const effects = async (key?: string) =>
  (await db<{ n: number }[]>`SELECT count(*)::int AS n FROM job_effects WHERE ${key ? db`key = ${key}` : db`true`}`)[0]!.n;
const job = async (key: string) => (await db`SELECT * FROM scheduled_jobs WHERE key = ${key}`)[0];
const add = (key: string, dueAt: Date, n = 1) => db.begin((tx) => schedule(tx, { kind: 'test.effect', key, dueAt, payload: { n } }, handlers));

beforeAll(async () => {
  await db`CREATE TABLE job_effects (key text NOT NULL, n int NOT NULL, late_ms bigint NOT NULL)`;
});
beforeEach(async () => {
  now = T0;
  failUntilAttempt = 0;
  pause = null;
  runs.length = 0;
  await db`TRUNCATE job_effects`;
  await db`TRUNCATE scheduled_jobs`;
});

describe('schedule', () => {
  it('writes the job in the caller’s transaction: a rollback schedules nothing', async () => {
    await expect(
      db.begin(async (tx) => {
        await schedule(tx, { kind: 'test.effect', key: 'rolled', dueAt: T0, payload: { n: 1 } }, handlers);
        throw new Error('cause failed');
      }),
    ).rejects.toThrow('cause failed');
    expect(await job('rolled')).toBeUndefined();
    expect(await add('kept', T0)).toBe(true);
    expect(await job('kept')).toMatchObject({ kind: 'test.effect', state: 'pending', attempts: 0, payload: { n: 1 } });
  });

  it('refuses an unknown kind and a payload its schema rejects, before writing', async () => {
    await expect(db.begin((tx) => schedule(tx, { kind: 'nope', key: 'k1', dueAt: T0, payload: {} }, handlers))).rejects.toBeInstanceOf(UnknownJobKind);
    await expect(
      db.begin((tx) => schedule(tx, { kind: 'test.effect', key: 'k2', dueAt: T0, payload: { n: 'x' } }, handlers)),
    ).rejects.toBeInstanceOf(InvalidJobPayload);
    await expect(db.begin((tx) => schedule(tx, { kind: 'test.effect', key: '', dueAt: T0, payload: { n: 1 } }, handlers))).rejects.toThrow(/key/);
    expect(await db`SELECT 1 FROM scheduled_jobs`).toHaveLength(0);
  });

  it('the same job scheduled from 10 concurrent transactions exists once', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        db.begin(async (tx) => {
          const created = await schedule(tx, { kind: 'test.effect', key: 'same', dueAt: at(i * 1000), payload: { n: i } }, handlers);
          await new Promise((r) => setTimeout(r, 20)); // keep the transactions open together
          return created;
        }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await db`SELECT 1 FROM scheduled_jobs WHERE key = 'same'`).toHaveLength(1);
    now = at(MIN);
    await scheduler.sweep();
    expect(await effects('same')).toBe(1);
  });
});

describe('running', () => {
  it('runs a job only once it is due by the injected clock, then never again', async () => {
    await add('later', at(5 * MIN));
    now = at(5 * MIN - 1000);
    expect((await scheduler.sweep()).claimed).toBe(0);
    now = at(5 * MIN);
    expect(await scheduler.sweep()).toMatchObject({ claimed: 1, done: 1 });
    expect(await scheduler.sweep()).toMatchObject({ claimed: 0 });
    expect(await scheduler.runJob('later')).toBeNull();
    expect(await job('later')).toMatchObject({ state: 'done', attempts: 1, lease_id: null });
    expect((await job('later'))!.finished_at).toEqual(now);
    expect(await effects('later')).toBe(1);
  });

  it('two sweeps and per-job triggers racing over 1,000 due jobs run each exactly once', async () => {
    await db`
      INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at)
      SELECT 'test.effect', 'bulk:' || i, jsonb_build_object('n', i), ${T0}, ${T0} FROM generate_series(1, 1000) i`;
    const a = createScheduler(deps({ batchSize: 25 }));
    const b = createScheduler(deps({ batchSize: 25 }));
    const keys = Array.from({ length: 1000 }, (_, i) => `bulk:${i + 1}`).sort(() => Math.random() - 0.5);
    const triggers = (async () => {
      for (let i = 0; i < keys.length; i += 4) await Promise.all(keys.slice(i, i + 4).map((k) => a.runJob(k)));
    })();
    const [ra, rb] = await Promise.all([a.sweep({ timeBudgetMs: 60_000 }), b.sweep({ timeBudgetMs: 60_000 }), triggers]);
    expect(ra.done + rb.done).toBeGreaterThan(0);
    const [c] = await db<{ n: number; distinct_keys: number }[]>`SELECT count(*)::int AS n, count(DISTINCT key)::int AS distinct_keys FROM job_effects`;
    expect(c).toEqual({ n: 1000, distinct_keys: 1000 });
    expect(await db`SELECT 1 FROM scheduled_jobs WHERE state <> 'done'`).toHaveLength(0);
    expect(runs).toHaveLength(1000);
  });

  it('a job due during an hour-long outage runs once when the sweep returns, knowing how late it is', async () => {
    await add('outage', at(10 * MIN));
    now = at(70 * MIN);
    await Promise.all([scheduler.sweep(), scheduler.sweep()]);
    expect(runs).toEqual([{ key: 'outage', lateMs: 60 * MIN, attempt: 1 }]);
    const [row] = await db`SELECT late_ms FROM job_effects WHERE key = 'outage'`;
    expect(Number(row!.late_ms)).toBe(60 * MIN);
  });

  it('a reminder already past its deadline skips itself (done, no effect); one on time acts', async () => {
    const deadline = at(60 * MIN).toISOString();
    await db.begin(async (tx) => {
      await schedule(tx, { kind: 'test.reminder', key: 'r:late', dueAt: at(30 * MIN), payload: { deadline } }, handlers);
      await schedule(tx, { kind: 'test.reminder', key: 'r:ontime', dueAt: at(90 * MIN), payload: { deadline: at(120 * MIN).toISOString() } }, handlers);
    });
    now = at(95 * MIN);
    await scheduler.sweep();
    expect(await effects('r:late')).toBe(0);
    expect(await effects('r:ontime')).toBe(1);
    expect((await job('r:late'))!.state).toBe('done');
  });

  it('a failing handler is retried with back-off, then kept as failed with its error', async () => {
    failUntilAttempt = 99;
    await add('flaky', T0);
    expect(await scheduler.sweep()).toMatchObject({ retried: 1 });
    expect(await job('flaky')).toMatchObject({ state: 'pending', attempts: 1, last_error: 'Error: boom on attempt 1' });
    expect((await job('flaky'))!.run_at).toEqual(at(10_000));
    expect(await effects('flaky')).toBe(0); // the effect rolled back with the failure
    now = at(9_999);
    expect((await scheduler.sweep()).claimed).toBe(0);
    now = at(10_000);
    expect(await scheduler.sweep()).toMatchObject({ retried: 1 });
    now = at(10_000 + 20_000);
    expect(await scheduler.sweep()).toMatchObject({ failed: 1 });
    expect(await job('flaky')).toMatchObject({ state: 'failed', attempts: 3, last_error: 'Error: boom on attempt 3' });
    now = at(10 * MIN);
    expect((await scheduler.sweep()).claimed).toBe(0);
    expect(await scheduler.summary()).toMatchObject({ counts: { failed: 1, running: 0 }, failed: [{ key: 'flaky', attempts: 3 }] });
  });

  it('succeeds on a retry: effect once', async () => {
    failUntilAttempt = 1;
    await add('second-time', T0);
    await scheduler.sweep();
    now = at(MIN);
    await scheduler.sweep();
    expect(runs).toEqual([{ key: 'second-time', lateMs: MIN, attempt: 2 }]);
    expect(await effects('second-time')).toBe(1);
  });

  it('a personal payload is blanked in the run that completes the job, and when it fails for good; kept while it retries', async () => {
    const put = (key: string) => db.begin((tx) => schedule(tx, { kind: 'test.personal', key, dueAt: T0, payload: { telegramId: 777000111 } }, handlers));
    await put('personal:ok');
    await scheduler.sweep();
    expect(await job('personal:ok')).toMatchObject({ state: 'done', payload: {} });
    expect(await effects('personal:ok')).toBe(1); // the handler had the payload
    personalFails = 99;
    await put('personal:fails');
    expect(await scheduler.sweep()).toMatchObject({ retried: 1 });
    expect(await job('personal:fails')).toMatchObject({ state: 'pending', payload: { telegramId: 777000111 } });
    now = at(MIN);
    expect(await scheduler.sweep()).toMatchObject({ failed: 1 });
    expect(await job('personal:fails')).toMatchObject({ state: 'failed', payload: {} });
    personalFails = 0;
  });

  it('a payload that no longer validates fails at once, without retries', async () => {
    await db`INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at) VALUES ('test.effect', 'bad', '{"n":"x"}', ${T0}, ${T0})`;
    expect(await scheduler.sweep()).toMatchObject({ failed: 1 });
    expect(await job('bad')).toMatchObject({ state: 'failed', attempts: 1 });
    expect((await job('bad'))!.last_error).toMatch(/InvalidJobPayload/);
  });

  it('a handler killed mid-run (pg_terminate_backend) is taken over after its lease, by the clock; effect once', async () => {
    await add('killed', T0);
    let reached!: (pid: number) => void;
    const pid = new Promise<number>((r) => (reached = r));
    let release!: () => void;
    pause = { reached, release: new Promise<void>((r) => (release = r)) };
    const first = createScheduler(deps({ leaseSeconds: 60 }));
    const running = first.sweep();
    await db`SELECT pg_terminate_backend(${await pid})`;
    release();
    expect(await running).toMatchObject({ claimed: 1, interrupted: 1, done: 0 });
    pause = null;
    runs.length = 0; // the killed run's JS went on; only its database effect was rolled back
    expect(await job('killed')).toMatchObject({ state: 'running', attempts: 1 });
    expect(await effects('killed')).toBe(0);
    // Still within the lease by the injected clock: nobody takes it, whatever the wall clock says.
    now = at(59_000);
    expect((await scheduler.sweep()).claimed).toBe(0);
    now = at(60_000);
    expect(await scheduler.sweep()).toMatchObject({ claimed: 1, done: 1 });
    expect(runs).toEqual([{ key: 'killed', lateMs: 60_000, attempt: 2 }]);
    expect(await effects('killed')).toBe(1);
  });

  it('a runner whose lease was taken over cannot complete the job', async () => {
    await add('slow', T0);
    const stale = createScheduler(deps({ leaseSeconds: 30 }));
    // One runner claims, stalls past its lease, another takes the job over and runs it; then the first tries.
    const [claimed] = await claimDue(db, clock(), 30, 1);
    now = at(30_000);
    expect(await stale.sweep()).toMatchObject({ claimed: 1, done: 1 });
    expect(await runClaimed(deps(), claimed!)).toBe('lost');
    expect(await effects('slow')).toBe(1);
  });
});

describe('reschedule and cancel', () => {
  it('inside a rolled-back transaction change nothing', async () => {
    await add('r1', at(10 * MIN));
    await add('c1', at(10 * MIN));
    await expect(
      db.begin(async (tx) => {
        expect(await reschedule(tx, { key: 'r1', dueAt: at(MIN) }, handlers)).toBe(true);
        expect(await cancel(tx, 'c1')).toBe(true);
        throw new Error('cause failed');
      }),
    ).rejects.toThrow('cause failed');
    expect(await job('r1')).toMatchObject({ state: 'pending', due_at: at(10 * MIN) });
    expect(await job('c1')).toMatchObject({ state: 'pending' });
    now = at(5 * MIN);
    expect((await scheduler.sweep()).claimed).toBe(0);
    now = at(10 * MIN);
    expect((await scheduler.sweep()).done).toBe(2);
  });

  it('committed: a moved job runs at its new time with its new payload; a cancelled one never runs', async () => {
    await add('r2', at(10 * MIN), 1);
    await add('c2', at(10 * MIN));
    await db.begin(async (tx) => {
      expect(await reschedule(tx, { key: 'r2', dueAt: at(20 * MIN), kind: 'test.effect', payload: { n: 7 } }, handlers)).toBe(true);
      expect(await cancel(tx, 'c2')).toBe(true);
    });
    await expect(db.begin((tx) => reschedule(tx, { key: 'r2', dueAt: T0, kind: 'test.effect', payload: { n: 'x' } }, handlers))).rejects.toBeInstanceOf(
      InvalidJobPayload,
    );
    expect(await db.begin((tx) => reschedule(tx, { key: 'missing', dueAt: T0 }, handlers))).toBe(false);
    now = at(15 * MIN);
    expect((await scheduler.sweep()).claimed).toBe(0);
    now = at(20 * MIN);
    await scheduler.sweep();
    expect(await db`SELECT key, n FROM job_effects`).toEqual([{ key: 'r2', n: 7 }]);
    expect((await job('c2'))!.state).toBe('cancelled');
    // Once it ran, it can be neither moved nor cancelled, and scheduling the key again is a no-op.
    expect(await db.begin((tx) => reschedule(tx, { key: 'r2', dueAt: at(30 * MIN) }, handlers))).toBe(false);
    expect(await db.begin((tx) => cancel(tx, 'r2'))).toBe(false);
    expect(await add('r2', at(30 * MIN))).toBe(false);
  });

  it('cancelling a claimed job stops its runner from completing it', async () => {
    await add('c3', T0);
    const [claimed] = await claimDue(db, clock(), 60, 1);
    expect(await db.begin((tx) => cancel(tx, 'c3'))).toBe(true);
    expect(await runClaimed(deps(), claimed!)).toBe('lost');
    expect(await effects('c3')).toBe(0);
  });

  it('prunes done and cancelled jobs 7 days after they finished, by the clock', async () => {
    await add('old', T0);
    await scheduler.sweep();
    await add('fresh', at(6 * 86_400_000));
    now = at(6 * 86_400_000);
    await scheduler.sweep();
    now = at(7 * 86_400_000 + 1);
    expect(await scheduler.prune()).toBe(1);
    expect(await job('old')).toBeUndefined();
    expect(await job('fresh')).toBeDefined();
  });
});
