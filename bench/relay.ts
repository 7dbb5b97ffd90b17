/**
 * Benchmark — outbox relay throughput (issue 5).
 *
 * N besitos_earned events wait in the outbox; the production relay (lib/bus/relay.ts) claims them in
 * batches (FOR UPDATE SKIP LOCKED), publishes one message per (event, subscriber) through the real
 * @upstash/qstash Client batch API to the local QStash stand-in (tests/support/qstash-server.ts, in
 * this process, delivery off: this measures publishing) and marks them sent. Target ≥ 2,000 events/s.
 *
 * Baselines measured in the same run:
 *  - db-only: the same relay with a transport that sends nothing (claim + mark sent, no HTTP): the
 *    ceiling the database sets;
 *  - naive: one Client.publish request per message, sequentially (what a relay without batching does).
 * For information, also the in-process mode (no QStash: `npm start`): the relay running both
 * subscribers' handlers, each in its own transaction with its processed_events row.
 */
import { createDb, type Sql } from '../lib/db/client.js';
import { localTransport, relayOutbox, qstashTransport, type Transport } from '../lib/bus/relay.js';
import { silentLogger } from '../lib/log.js';
import { QStashServer } from '../tests/support/qstash-server.js';
import { createBenchDatabase, fmt, machine, QUICK } from './support.js';

const EVENTS = QUICK ? 10_000 : 30_000;
const NAIVE_MESSAGES = QUICK ? 500 : 1_500;
const BATCH = 500;

async function seed(db: Sql, n: number) {
  await db`
    INSERT INTO outbox (event_id, type, user_id, event)
    SELECT id, 'gamification.besitos_earned', 1 + g % 1000,
           jsonb_build_object('event_id', id, 'type', 'gamification.besitos_earned', 'version', 1,
                              'occurred_at', now(), 'user_id', 1 + g % 1000,
                              'data', jsonb_build_object('amount', 10, 'source', 'daily', 'transaction_id', g, 'balance_after', 10 * g))
      FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(1, ${n}) g) s`;
  await db`VACUUM ANALYZE outbox`;
}

async function reset(db: Sql) {
  await db`UPDATE outbox SET published_at = NULL, attempts = 0, last_error = NULL, next_attempt_at = now()`;
  await db`VACUUM ANALYZE outbox`;
}

async function timedRelay(db: Sql, transport: Transport, relays: number) {
  const started = performance.now();
  const reports = await Promise.all(
    Array.from({ length: relays }, () => relayOutbox({ db, log: silentLogger, transport, batchSize: BATCH }, { timeBudgetMs: 600_000 })),
  );
  const seconds = (performance.now() - started) / 1000;
  const published = reports.reduce((s, r) => s + r.published, 0);
  const failed = reports.reduce((s, r) => s + r.failed, 0);
  const [{ pending }] = (await db`SELECT count(*)::int AS pending FROM outbox WHERE published_at IS NULL`) as unknown as [{ pending: number }];
  if (failed > 0 || pending > 0 || published !== EVENTS) {
    throw new Error(`relay incomplete: published ${published}, failed ${failed}, pending ${pending}`);
  }
  return { seconds, eventsPerSecond: published / seconds };
}

async function main() {
  console.log(`# Outbox relay → QStash (stand-in) throughput\n${machine()}\n${EVENTS} events, 2 subscribers each (audit, gamification), ${BATCH} rows per claim, 100 messages per /v2/batch request\n`);
  const bench = await createBenchDatabase('relay');
  const db = createDb(bench.url, { max: 8 });
  const qstash = await new QStashServer({ deliver: false, dedupWindowMs: 0 }).start();
  try {
    await seed(db, EVENTS);
    const publicUrl = 'http://127.0.0.1:9/bench';
    const transport = qstashTransport({ baseUrl: qstash.url, token: qstash.token, publicUrl, concurrency: 4 });
    const noHttp: Transport = { kind: 'qstash', send: async () => new Map() };

    // Warm-up (JIT, SDK import, connections) on a slice, then reset.
    await relayOutbox({ db, log: silentLogger, transport, batchSize: BATCH }, { maxBatches: 2 });
    await reset(db);

    const dbOnly = await timedRelay(db, noHttp, 1);
    await reset(db);
    const before = qstash.published.length;
    const one = await timedRelay(db, transport, 1);
    const messages = qstash.published.length - before;
    await reset(db);
    const two = await timedRelay(db, transport, 2);

    await reset(db);
    const inProcess = await timedRelay(db, localTransport({ db, log: silentLogger, timeZone: 'America/Mexico_City' }, 6), 1);

    // Naive: one publish request per message.
    const { Client } = await import('@upstash/qstash');
    const client = new Client({ baseUrl: qstash.url, token: qstash.token, devMode: false, enableTelemetry: false });
    const naiveStart = performance.now();
    for (let i = 0; i < NAIVE_MESSAGES; i++) {
      await client.publish({ url: `${publicUrl}/api/events/audit`, body: '{"n":1}', headers: { 'Content-Type': 'application/json' }, deduplicationId: `naive:${i}` });
    }
    const naiveMessagesPerSecond = NAIVE_MESSAGES / ((performance.now() - naiveStart) / 1000);
    const naiveEventsPerSecond = naiveMessagesPerSecond / 2;

    const rows = [
      ['db-only baseline (claim + mark sent, no HTTP)', dbOnly.eventsPerSecond],
      ['relay → QStash batch API, 1 relay', one.eventsPerSecond],
      ['relay → QStash batch API, 2 relays at once', two.eventsPerSecond],
      ['naive baseline (one publish per message)', naiveEventsPerSecond],
      ['in-process delivery, no QStash (relay + audit + gamification transactions)', inProcess.eventsPerSecond],
    ] as const;
    console.log('| run | events/s |\n|---|---:|');
    for (const [name, v] of rows) console.log(`| ${name} | ${fmt(v)} |`);
    console.log(`\nmessages published by the 1-relay run: ${messages} (${fmt(messages / one.seconds)} messages/s)`);
    const best = Math.max(one.eventsPerSecond, two.eventsPerSecond);
    console.log(`relay / db-only: ${fmt(one.eventsPerSecond / dbOnly.eventsPerSecond, 2)}×`);
    console.log(`relay / naive:   ${fmt(one.eventsPerSecond / naiveEventsPerSecond, 1)}×`);
    console.log(`target ≥ 2,000 events/s: ${best >= 2000 ? 'met' : 'NOT met'} (${fmt(best)} events/s)`);
  } finally {
    await qstash.stop();
    await db.end({ timeout: 5 });
    await bench.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
