/**
 * Benchmark 6 — a story decision end to end (issue 19): a button press on a decision → webhook →
 * the user's lock, progress, outbox events, the action row → the next fragment sent to the Bot API
 * stand-in, through the real api/telegram.ts (Vercel's shape: the after-commit relay publishes to the
 * local QStash stand-in), against the minimal telegraf bot of bench/baseline-bot.ts on the webhook
 * benchmark's mixed load, in the same run and with the same concurrency and rate.
 *  - decisions/s: closed loop, CONCURRENCY presses in flight (each worker plays its own users, so every
 *    press carries the step of the screen the user is on: a real move, never a refusal);
 *  - latency: open loop at a steady 100 presses/s, p50/p99 measured by the client.
 * The story is a two-fragment loop published as the active content version of the benchmark database.
 */
import { contentSchema } from '../lib/content/schema.js';
import { publishContent } from '../lib/content/versions.js';
import { createPostgresContentStore } from '../lib/content/postgres.js';
import { createDb } from '../lib/db/client.js';
import { BotApiStub } from '../tests/support/bot-api-stub.js';
import { QStashServer } from '../tests/support/qstash-server.js';
import { callbackUpdate, textUpdate } from '../tests/support/updates.js';
import { closedLoop, createBenchDatabase, fmt, percentile, QUICK, sleep, type Ratio } from './support.js';
import { mixedUpdate, post, setBusEnv, startServer } from './webhook.js';

const USERS = 400;
const FIRST = 7_000_001;
const SECONDS = QUICK ? 4 : 8;
const CONCURRENCY = 16;
const RATE = 100;
const LATENCY_SECONDS = QUICK ? 5 : 10;

const story = contentSchema.parse({
  start: 'a',
  levels: [{ number: 1, title: 'Bucle', intro: 'Un bucle para medir.' }],
  fragments: [
    { key: 'a', level: 1, title: 'A', narrator: 'Diana', text: '¿Izquierda o derecha?', type: 'decision',
      decisions: [{ key: 'izq', label: 'Izquierda', next: 'b', flags: { set: ['izq'] } }, { key: 'der', label: 'Derecha', next: 'b' }] },
    { key: 'b', level: 1, title: 'B', narrator: 'Lucien', text: '¿Volvemos?', type: 'decision',
      decisions: [{ key: 'volver', label: 'Volver', next: 'a', flags: { clear: ['izq'] } }] },
  ],
});

interface Player {
  tg: number;
  id36: string;
  step: number;
  busy: boolean;
}

export async function benchStory(): Promise<Ratio[]> {
  console.log(`\n== 6. Story decision end to end (${USERS} players, ${CONCURRENCY} in flight, ${SECONDS} s; latency at ${RATE}/s for ${LATENCY_SECONDS} s) ==`);
  const bdb = await createBenchDatabase('story');
  const stub = await new BotApiStub().start();
  const qstash = await new QStashServer({ deliver: false, dedupWindowMs: 0 }).start();
  setBusEnv(qstash.env('http://127.0.0.1:9/bench'));
  const db = createDb(bdb.url, { max: 2 });
  try {
    const published = await publishContent(db, createPostgresContentStore(db), story);
    const tag = published.version.hash.slice(0, 8);

    // Baseline: the minimal telegraf bot on the webhook benchmark's mixed load.
    const base = await startServer('baseline', bdb.url, stub.url, false);
    let baseline;
    try {
      await closedLoop(CONCURRENCY, 1, () => post(base.port, mixedUpdate()).then(() => {}));
      baseline = await closedLoop(CONCURRENCY, SECONDS, () => post(base.port, mixedUpdate()).then(() => {}));
    } finally {
      await base.stop();
    }
    stub.reset();

    const server = await startServer('dianabot-qstash', bdb.url, stub.url, false);
    try {
      const players: Player[] = [];
      for (let i = 0; i < USERS; i += CONCURRENCY) {
        await Promise.all(
          Array.from({ length: Math.min(CONCURRENCY, USERS - i) }, async (_, k) => {
            const tg = FIRST + i + k;
            await post(server.port, textUpdate(tg, '/historia'));
          }),
        );
      }
      const rows = await db<{ telegram_id: number; id: number; step: number }[]>`
        SELECT u.telegram_id, u.id, p.step FROM users u JOIN user_narrative_progress p ON p.user_id = u.id
         WHERE u.telegram_id BETWEEN ${FIRST} AND ${FIRST + USERS - 1}`;
      for (const r of rows) players.push({ tg: Number(r.telegram_id), id36: Number(r.id).toString(36), step: Number(r.step), busy: false });
      if (players.length !== USERS) throw new Error(`only ${players.length} of ${USERS} players started the story`);
      const press = async (p: Player) => {
        p.busy = true;
        try {
          // On "a" (odd steps) choose left or right; on "b" go back.
          const data = `h:d:${p.id36}:${tag}:${p.step.toString(36)}:${p.step % 2 === 1 ? p.step % 4 === 1 ? 0 : 1 : 0}`;
          await post(server.port, callbackUpdate(p.tg, data));
          p.step += 1;
        } finally {
          p.busy = false;
        }
      };
      const stepsBefore = players.reduce((s, p) => s + p.step, 0);
      // Warm-up, then the closed loop: worker w plays players w, w+16, … in turn.
      await closedLoop(CONCURRENCY, 1, (w, i) => press(players[(w + i * CONCURRENCY) % USERS]!));
      const tp = await closedLoop(CONCURRENCY, SECONDS, (w, i) => press(players[(w + i * CONCURRENCY) % USERS]!));

      await sleep(500);
      const latencies: number[] = [];
      let errors = 0;
      const pending: Promise<void>[] = [];
      const start = performance.now();
      let next = 0;
      for (let i = 0; i < RATE * LATENCY_SECONDS; i++) {
        const wait = start + (i * 1000) / RATE - performance.now();
        if (wait > 0) await sleep(wait);
        let p = players[next++ % USERS]!;
        while (p.busy) p = players[next++ % USERS]!;
        const t0 = performance.now();
        pending.push(press(p).then(() => void latencies.push(performance.now() - t0), () => void errors++));
      }
      await Promise.all(pending);
      latencies.sort((a, b) => a - b);

      // Every press was a real move: the steps stored add up to the presses that succeeded.
      const [row] = await db<{ steps: number }[]>`
        SELECT sum(p.step)::int AS steps FROM user_narrative_progress p JOIN users u ON u.id = p.user_id
         WHERE u.telegram_id BETWEEN ${FIRST} AND ${FIRST + USERS - 1}`;
      const steps = Number(row!.steps);
      const moves = players.reduce((s, p) => s + p.step, 0) - stepsBefore;
      const fragments = stub.callsOf('sendMessage').length;
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const ratio = tp.perSecond / baseline.perSecond;
      console.log(`  baseline (minimal telegraf bot, mixed load): ${fmt(baseline.perSecond)} updates/s (${baseline.errors} errors)`);
      console.log(`  story decisions: ${fmt(tp.perSecond)} decisions/s (${tp.errors} errors) | at ${RATE}/s p50 ${fmt(p50, 1)} ms p99 ${fmt(p99, 1)} ms (${errors} errors)`);
      console.log(`  decisions/s vs baseline ${fmt(ratio, 2)}×; ${moves} moves pressed, ${steps - stepsBefore} stored, ${fragments} messages sent`);
      return [
        { name: 'story decisions/s vs baseline updates/s', value: ratio, target: 'report', pass: steps - stepsBefore === moves && tp.errors === 0, detail: `${fmt(tp.perSecond)} vs ${fmt(baseline.perSecond)}/s` },
        { name: 'story decision p99 at 100/s (ms)', value: p99, target: '≤ 25', pass: p99 <= 25, detail: `p50 ${fmt(p50, 1)} ms` },
      ];
    } finally {
      await server.stop();
    }
  } finally {
    await db.end();
    await stub.stop();
    await qstash.stop();
    await bdb.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchStory().then(
    (r) => {
      console.log(r);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
