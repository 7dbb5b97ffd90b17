/**
 * A/B of one webhook change by CPU per update, robust to a loaded machine (issue 18):
 * two production apps in ONE process — A with the change switched off (BENCH_VARIANT_OFF, as in
 * bench/webhook-server.ts), B as shipped — fed the webhook benchmark's mixed load (each its own 1,000
 * users, 16 updates in flight) in alternating slices of SLICE updates, process.cpuUsage() per slice.
 * Neighbours' load drifts over seconds; alternating every few hundred updates puts both sides under
 * the same drift. The Bot API stub and the QStash stand-in run in a child process, so their CPU is
 * not counted. Prints the median CPU per update of each side and B/A.
 *   BENCH_VARIANT_OFF=lean-transport npx tsx bench/webhook-ab.ts   [BENCH_SLICES=20 BENCH_SLICE=300]
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, type App, type AppOverrides } from '../lib/app.js';
import { parseConfig } from '../lib/config.js';
import { createLogger } from '../lib/log.js';
import { createRedisStore } from '../lib/kv/redis.js';
import { prefixedStore } from '../tests/fault/kv-prefix.js';
import { textUpdate } from '../tests/support/updates.js';
import { createBenchDatabase, fmt, REDIS_URL } from './support.js';
import { mixedUpdateFor } from './webhook.js';

const SECRET = 'bench-webhook-secret';
const USERS = 1_000;
const SLICES = Number(process.env.BENCH_SLICES ?? 16);
const SLICE = Number(process.env.BENCH_SLICE ?? 300);
const OFF = (process.env.BENCH_VARIANT_OFF ?? '').split(',').filter(Boolean);

if (process.argv[2] === 'services') {
  // Child: the Bot API stub and the QStash stand-in, out of the measured process.
  const { BotApiStub } = await import('../tests/support/bot-api-stub.js');
  const { QStashServer } = await import('../tests/support/qstash-server.js');
  const stub = await new BotApiStub().start();
  const qstash = await new QStashServer({ deliver: false, dedupWindowMs: 0 }).start();
  // Recorded calls are not needed: keep the stub's memory flat.
  setInterval(() => stub.reset(), 1000).unref();
  process.send!({ stub: stub.url, busEnv: qstash.env('http://127.0.0.1:9/bench') });
  process.on('message', () => process.exit(0));
} else {
  await main();
}

/** The switches of bench/webhook-server.ts, as app overrides. */
function overridesOff(off: string[]): AppOverrides {
  return {
    ...(off.includes('lean-transport') ? { leanTelegramTransport: false } : {}),
    bus: {
      ...(off.includes('relay-lease') ? { afterCommitInTransaction: true } : {}),
      ...(off.includes('lean-qstash') ? { leanQStashHttp: false } : {}),
    },
    webhook: {
      ...(off.includes('claim-state') ? { claimWithState: undefined } : {}),
      ...(off.includes('group-done') ? { complete: undefined } : {}),
      ...(off.includes('webhook-reply') ? { webhookReply: undefined } : {}),
    },
  };
}

async function main() {
  const services = fork(fileURLToPath(import.meta.url), ['services'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const { stub, busEnv } = await new Promise<{ stub: string; busEnv: Record<string, string> }>((r) => services.once('message', r as never));
  const bdb = await createBenchDatabase('webhook_ab');
  const log = createLogger('info', () => {});
  const make = async (off: string[], prefix: string): Promise<App> =>
    createApp(
      parseConfig({
        ...busEnv,
        DIANABOT_MODE: 'test',
        DATABASE_URL: bdb.url,
        TELEGRAM_BOT_TOKEN: '123456:BENCH-token-for-the-local-bot-api-stub',
        TELEGRAM_WEBHOOK_SECRET: SECRET,
        TELEGRAM_API_ROOT: stub,
        BOT_USERNAME: 'DianaTestBot',
        REDIS_URL,
        LOG_LEVEL: 'info',
      }),
      { kv: prefixedStore(await createRedisStore(REDIS_URL), prefix), log, ...overridesOff(off) },
    );
  const sides = [
    { name: `A (off: ${OFF.join(',') || 'nothing'})`, app: await make(OFF, `ab:a:${process.pid}:`), base: 7_000_001, cpu: [] as number[] },
    { name: 'B (as shipped)', app: await make([], `ab:b:${process.pid}:`), base: 7_000_001 + USERS, cpu: [] as number[] },
  ];
  const post = (app: App, update: unknown) =>
    app.webhook({ method: 'POST', headers: { 'x-telegram-bot-api-secret-token': SECRET }, body: JSON.stringify(update) }).then((r) => {
      if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body}`);
    });
  const mixed = (base: number) => {
    const id = base + Math.floor(Math.random() * USERS);
    return mixedUpdateFor(id);
  };
  const run = async (app: App, n: number, make: () => unknown) => {
    let left = n;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (left-- > 0) await post(app, make());
    }));
  };
  try {
    for (const s of sides) {
      for (let i = 0; i < USERS; i += 16) await Promise.all(Array.from({ length: 16 }, (_, k) => post(s.app, textUpdate(s.base + i + k, '/start'))));
      await run(s.app, 500, () => mixed(s.base));
    }
    for (let slice = 0; slice < SLICES; slice++) {
      for (const s of slice % 2 ? [...sides].reverse() : sides) {
        const c0 = process.cpuUsage();
        await run(s.app, SLICE, () => mixed(s.base));
        const c = process.cpuUsage(c0);
        s.cpu.push((c.user + c.system) / 1000 / SLICE);
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const s of sides) console.log(`  ${s.name.padEnd(32)} CPU per update: median ${fmt(med(s.cpu), 3)} ms (slices ${s.cpu.map((x) => fmt(x, 2)).join(' ')})`);
    const [a, b] = sides.map((s) => med(s.cpu)) as [number, number];
    // Paired: slice i of B against slice i of A (same moment of the run).
    const paired = med(sides[1]!.cpu.map((x, i) => x / sides[0]!.cpu[i]!));
    console.log(`  B/A ${fmt(b / a, 3)} (medians), paired median ${fmt(paired, 3)}; ${SLICES} slices × ${SLICE} updates per side, ${new Date().toISOString()}`);
  } finally {
    for (const s of sides) await s.app.close();
    await bdb.drop();
    services.send('exit');
  }
  process.exit(0);
}
