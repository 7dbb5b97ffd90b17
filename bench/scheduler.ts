/**
 * Benchmark — scheduled jobs (issue 21).
 *
 * 1. Execution: N jobs of a no-op kind are due; one sweeper (lib/scheduler, the production runner:
 *    claim with FOR UPDATE SKIP LOCKED under a lease, then one transaction per job that marks it done
 *    and runs the handler) runs them all. Baseline in the same run: the outbox relay's db-only ceiling
 *    (bench/relay.ts: claim + mark sent, no HTTP) over N outbox rows.
 * 2. Scheduling cost inside a transaction: a cause (one INSERT) alone, the cause + schedule() (the job
 *    and its trigger in one statement), and the cause + publish() of one event, as a reference.
 */
import type postgres from 'postgres';
import { z } from 'zod';
import { createDb, type Sql } from '../lib/db/client.js';
import { newEvent, publish } from '../lib/bus/index.js';
import { relayOutbox, type Transport } from '../lib/bus/relay.js';
import { silentLogger } from '../lib/log.js';
import { createScheduler, JobHandlers, schedule } from '../lib/scheduler/index.js';
import { createBenchDatabase, fmt, machine, percentile, QUICK } from './support.js';

const JOBS = QUICK ? 3_000 : 10_000;
const TXS = QUICK ? 1_000 : 3_000;

const handlers = new JobHandlers();
handlers.register({ kind: 'bench.noop', payload: z.object({ n: z.number() }), async run() {} });

async function seedOutbox(db: Sql, n: number) {
  await db`
    INSERT INTO outbox (event_id, type, user_id, event)
    SELECT id, 'gamification.besitos_earned', 1 + g % 1000,
           jsonb_build_object('event_id', id, 'type', 'gamification.besitos_earned', 'version', 1,
                              'occurred_at', now(), 'user_id', 1 + g % 1000,
                              'data', jsonb_build_object('amount', 10, 'source', 'daily', 'transaction_id', g, 'balance_after', 10 * g))
      FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(1, ${n}) g) s`;
  await db`VACUUM ANALYZE outbox`;
}

async function seedJobs(db: Sql, n: number, at: Date) {
  await db`
    INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at)
    SELECT 'bench.noop', 'bench:' || g, jsonb_build_object('n', g), ${at}, ${at} FROM generate_series(1, ${n}) g`;
  await db`VACUUM ANALYZE scheduled_jobs`;
}

async function timeTxs(db: Sql, label: string, body: (tx: postgres.TransactionSql<{}>, i: number) => Promise<unknown>) {
  const lat: number[] = [];
  const started = performance.now();
  for (let i = 0; i < TXS; i++) {
    const t = performance.now();
    await db.begin((tx) => body(tx, i));
    lat.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  return { label, perSecond: TXS / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

async function main() {
  console.log(`# Scheduled jobs\n${machine()}\n${JOBS} due jobs (no-op handler) vs ${JOBS} outbox rows (db-only relay); ${TXS} transactions per scheduling run\n`);
  const bench = await createBenchDatabase('scheduler');
  const db = createDb(bench.url, { max: 8 });
  try {
    const now = new Date();
    const clock = () => now;
    // 1. Execution.
    await seedOutbox(db, JOBS);
    const noHttp: Transport = { kind: 'qstash', send: async () => new Map() };
    await relayOutbox({ db, log: silentLogger, transport: noHttp, batchSize: 500 }, { maxBatches: 1 }); // warm-up
    await db`UPDATE outbox SET published_at = NULL, attempts = 0, next_attempt_at = now()`;
    let t = performance.now();
    const relay = await relayOutbox({ db, log: silentLogger, transport: noHttp, batchSize: 500 }, { timeBudgetMs: 600_000 });
    const relayPerSecond = relay.published / ((performance.now() - t) / 1000);

    await seedJobs(db, 200, now);
    await createScheduler({ db, log: silentLogger, clock, timeZone: 'UTC', handlers }).sweep({ timeBudgetMs: 600_000 }); // warm-up
    await db`TRUNCATE scheduled_jobs`;
    await seedJobs(db, JOBS, now);
    const runs: [string, number][] = [];
    for (const [label, batchSize, concurrency] of [
      ['one sweeper, default (20 per claim, 4 at once)', 20, 4],
      ['one sweeper, 100 per claim, 6 at once', 100, 6],
    ] as const) {
      await db`UPDATE scheduled_jobs SET state = 'pending', attempts = 0, lease_id = NULL, run_at = due_at, finished_at = NULL`;
      await db`VACUUM ANALYZE scheduled_jobs`;
      t = performance.now();
      const r = await createScheduler({ db, log: silentLogger, clock, timeZone: 'UTC', handlers, batchSize, concurrency }).sweep({ timeBudgetMs: 600_000 });
      if (r.done !== JOBS) throw new Error(`sweep incomplete: ${JSON.stringify(r)}`);
      runs.push([label, JOBS / ((performance.now() - t) / 1000)]);
    }
    // Where the gap comes from: the same number of one-row transactions (BEGIN, UPDATE, COMMIT), 4 at once,
    // with no scheduler code — each job's effect commits on its own, the relay commits 500 rows at once.
    await db`UPDATE scheduled_jobs SET state = 'running'`;
    const ids = (await db<{ id: number }[]>`SELECT id FROM scheduled_jobs ORDER BY id`).map((r) => r.id);
    let next = 0;
    t = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          await db.begin((tx) => tx`UPDATE scheduled_jobs SET state = 'done' WHERE id = ${id} AND state = 'running'`);
        }
      }),
    );
    const bareTx = ids.length / ((performance.now() - t) / 1000);
    console.log('| run | per second |\n|---|---:|');
    console.log(`| outbox relay, db-only ceiling (claim 500 + mark sent) | ${fmt(relayPerSecond)} rows |`);
    for (const [label, v] of runs) console.log(`| jobs: ${label} | ${fmt(v)} jobs |`);
    console.log(`| one-row transactions, 4 at once, no scheduler code (per-job commit ceiling) | ${fmt(bareTx)} tx |`);
    console.log(`\njobs / relay db-only: ${fmt(runs[0]![1] / relayPerSecond, 2)}× (default), ${fmt(runs[1]![1] / relayPerSecond, 2)}× (100 per claim, 6 at once)`);
    console.log(`jobs / one-row transactions: ${fmt(runs[0]![1] / bareTx, 2)}× (default)`);

    // 2. Scheduling cost inside a transaction.
    await db`CREATE TABLE bench_cause (id bigserial PRIMARY KEY, user_id int NOT NULL, note text NOT NULL)`;
    await db`TRUNCATE scheduled_jobs`;
    await db`TRUNCATE outbox`;
    const cause = (tx: postgres.TransactionSql<{}>, i: number) => tx`INSERT INTO bench_cause (user_id, note) VALUES (${i}, 'x')`;
    const due = new Date(now.getTime() + 3_600_000);
    await timeTxs(db, 'warm-up', async (tx, i) => {
      await cause(tx, i);
      await schedule(tx, { kind: 'bench.noop', key: `warm:${i}`, dueAt: due, payload: { n: i } }, handlers);
    });
    const results = [
      await timeTxs(db, 'cause only (1 INSERT)', (tx, i) => cause(tx, i)),
      await timeTxs(db, 'cause + schedule() (job + trigger, 1 statement)', async (tx, i) => {
        await cause(tx, i);
        await schedule(tx, { kind: 'bench.noop', key: `s:${i}`, dueAt: due, payload: { n: i } }, handlers);
      }),
      await timeTxs(db, 'cause + publish() of one event (reference)', async (tx, i) => {
        await cause(tx, i);
        await publish(tx, newEvent('gamification.besitos_earned', { amount: 1, source: 'bench', transaction_id: i + 1, balance_after: 1 }, 1));
      }),
    ];
    console.log('\n| transaction | tx/s | p50 ms | p99 ms |\n|---|---:|---:|---:|');
    for (const r of results) console.log(`| ${r.label} | ${fmt(r.perSecond)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} |`);
    console.log(`\nschedule() adds ${fmt(results[1]!.p50 - results[0]!.p50, 2)} ms p50 to a transaction (${fmt(results[1]!.perSecond / results[0]!.perSecond, 2)}× the cause-only rate); publish() adds ${fmt(results[2]!.p50 - results[0]!.p50, 2)} ms`);
  } finally {
    await db.end({ timeout: 5 });
    await bench.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
