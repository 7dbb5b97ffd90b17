/**
 * Benchmark — gamification subscriber throughput (issue 20): events/s the gamification subscriber
 * processes (facts stored, missions and achievements of the content catalogue evaluated, rewards paid)
 * against the audit subscriber on the same events in the same run (goal ≥ 0.5× of audit).
 * Both go through the production delivery path (lib/bus/receive.ts processEvent: parse, processed_events
 * row and the handler in one transaction), 8 concurrent workers, 1,000 users, a mix of story, trivia
 * and /daily events spread over a week. The subscribers alternate every 500 events (the machine is shared:
 * both see the same load); each figure is events over the summed time of its turns.
 */
import { createEvent } from '../lib/bus/events.js';
import { processEvent, type ProcessDeps } from '../lib/bus/receive.js';
import { readFileSync } from 'node:fs';
import { createDb } from '../lib/db/client.js';
import { silentLogger } from '../lib/log.js';
import { createGamificationSubscriber } from '../lib/gamification/subscriber.js';
import { catalogueOf, fixedCatalogue } from '../lib/gamification/content.js';
import { ContentIndex, loadContentFromDir } from '../lib/content/index.js';
import { createBenchDatabase, fmt, machine, QUICK } from './support.js';

const USERS = 1_000;
const EVENTS = QUICK ? 3_000 : 10_000;
const WORKERS = 8;
const ROUNDS = QUICK ? 1 : 2;
/** Events per turn: audit and gamification alternate every SLICE events. */
const SLICE = 500;
const TZ = 'America/Mexico_City';

// Diagnostics (BENCH_COUNT_IO=1): statements sent and socket writes to Postgres (≈ round trips: postgres.js
// sends the queries of one tick in one write), and CPU time of this process and of the benchmark's
// Postgres backends, per subscriber side (CPU per event hardly depends on what else the machine runs).
const COUNT = process.env.BENCH_COUNT_IO === '1';
const io = { statements: 0, writes: 0 };
if (COUNT) {
  const net = await import('node:net');
  const original = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: import('node:net').Socket, ...args: unknown[]) {
    if (this.remotePort === 5432) io.writes++;
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof original;
}

function events(firstUser: number, round: number): string[] {
  const start = Date.parse('2026-03-09T12:00:00Z');
  return Array.from({ length: EVENTS }, (_, i) => {
    const user = firstUser + ((i * 7919 + round) % USERS);
    const at = new Date(start + ((i * 104_729) % (7 * 86_400_000)));
    switch (i % 3) {
      case 0:
        return JSON.stringify(createEvent('narrative.fragment_completed', { fragment_key: `f${i % 40}`, level: 1, besitos_awarded: 5 }, user, at));
      case 1:
        return JSON.stringify(createEvent('gamification.trivia_answered', { trivia_key: `t${i % 11}`, correct: i % 2 === 0, reward_besitos: 5, response_ms: 900 }, user, at));
      default:
        return JSON.stringify(createEvent('gamification.besitos_earned', { amount: 10, source: 'daily', transaction_id: i + 1, balance_after: 10 }, user, at));
    }
  });
}

/** CPU ms used so far by this process and by the other backends connected to the benchmark database. */
async function cpuNow(probe: ReturnType<typeof createDb>): Promise<{ node: number; pg: number }> {
  const rows = await probe<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;
  let ticks = 0;
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // the backend ended meanwhile
    }
  }
  const { user, system } = process.cpuUsage();
  return { node: (user + system) / 1000, pg: ticks * 10 };
}

async function drain(deps: ProcessDeps, subscriber: 'audit' | 'gamification', bodies: string[]) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const outcome = await processEvent(deps, subscriber, body);
        if (outcome !== 'processed') throw new Error(`${subscriber}: ${outcome}`);
      }
    }),
  );
  return bodies.length / ((performance.now() - started) / 1000);
}

async function main() {
  console.log(`# Gamification subscriber vs audit subscriber\n${machine()}\n${EVENTS} events per round, ${USERS} users, ${WORKERS} workers, ${ROUNDS} rounds\n`);
  const bench = await createBenchDatabase('gamification');
  const db = createDb(bench.url, { max: WORKERS + 2, ...(COUNT ? { onQuery: () => void io.statements++ } : {}) });
  try {
    const [{ first }] = (await db`
      WITH u AS (INSERT INTO users (telegram_id, first_name) SELECT 900000000 + g, 'Bench' FROM generate_series(1, ${USERS}) g RETURNING id)
      , b AS (INSERT INTO user_balances (user_id) SELECT id FROM u)
      SELECT min(id)::int AS first FROM u`) as unknown as [{ first: number }];
    const deps: ProcessDeps = { db, log: silentLogger, timeZone: TZ, handlers: { gamification: createGamificationSubscriber({ catalogue: fixedCatalogue(catalogueOf(new ContentIndex(await loadContentFromDir()))), clock: () => new Date('2026-03-16T00:00:00Z') }) } };
    // The machine is shared (load changes by the minute): the two subscribers take turns on slices of
    // the same events, so each sees the same conditions; totals are summed over all slices.
    const time = { audit: 0, gamification: 0 };
    const sent = { audit: { statements: 0, writes: 0, node: 0, pg: 0 }, gamification: { statements: 0, writes: 0, node: 0, pg: 0 } };
    const probe = createDb(bench.url, { max: 1 });
    const counted = async (side: 'audit' | 'gamification', slice: string[]) => {
      if (!COUNT) return drain(deps, side, slice);
      const cpu = await cpuNow(probe);
      const before = { ...io };
      const rate = await drain(deps, side, slice);
      sent[side].statements += io.statements - before.statements;
      sent[side].writes += io.writes - before.writes;
      const after = await cpuNow(probe);
      sent[side].node += after.node - cpu.node;
      sent[side].pg += after.pg - cpu.pg;
      return rate;
    };
    let count = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const all = events(first, r);
      let ra = 0;
      let rg = 0;
      for (let from = 0; from < all.length; from += SLICE) {
        const slice = all.slice(from, from + SLICE);
        const a = process.env.ONLY === 'g' ? 1e9 : await counted('audit', slice);
        const g = process.env.ONLY === 'a' ? 1e9 : await counted('gamification', slice);
        ra += slice.length / a;
        rg += slice.length / g;
      }
      time.audit += ra;
      time.gamification += rg;
      count += all.length;
      console.log(`round ${r + 1}: audit ${fmt(all.length / ra)} events/s, gamification ${fmt(all.length / rg)} events/s (ratio ${fmt(ra / rg, 2)})`);
    }
    const audit = count / time.audit;
    const gamification = count / time.gamification;
    const [paid] = (await db`SELECT count(*)::int AS n FROM transactions WHERE source IN ('mission', 'achievement')`) as unknown as [{ n: number }];
    if (COUNT)
      for (const side of ['audit', 'gamification'] as const)
        console.log(
          `${side}: ${fmt(sent[side].statements / count, 1)} statements, ${fmt(sent[side].writes / count, 1)} writes to Postgres, CPU ${fmt(sent[side].node / count, 2)} ms Node + ${fmt(sent[side].pg / count, 2)} ms Postgres per event`,
        );
    await probe.end();
    console.log(`\naudit: ${fmt(audit)} events/s\ngamification: ${fmt(gamification)} events/s (${paid.n} rewards paid)\ngamification / audit: ${fmt(gamification / audit, 2)}× (goal ≥ 0.5×)`);
  } finally {
    await db.end({ timeout: 5 });
    await bench.drop();
  }
}

await main();
