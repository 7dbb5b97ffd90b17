/**
 * A/B of one webhook change by CPU per update, robust to a loaded machine (issue 18):
 * two production apps in ONE process — A with the change switched off (BENCH_VARIANT_OFF, as in
 * bench/webhook-server.ts), B as shipped — fed the webhook benchmark's mixed load (each its own 1,000
 * users, 16 updates in flight) in alternating slices of SLICE updates, process.cpuUsage() per slice.
 * Neighbours' load drifts over seconds; alternating every few hundred updates puts both sides under
 * the same drift. The Bot API stub and the QStash stand-in run in a child process, so their CPU is
 * not counted. Prints the median CPU per update of each side and B/A.
 *   BENCH_VARIANT_OFF=lean-transport npx tsx bench/webhook-ab.ts   [BENCH_SLICES=20 BENCH_SLICE=300]
 * A process-wide change (an environment variable) is compared with one child process per side:
 *   BENCH_AB_ENV_A='{"DIANABOT_WRITTEN_TRACKING":"als"}' npx tsx bench/webhook-ab.ts
 * and a change without a switch by running side A (or B) on the code of another commit:
 *   BENCH_AB_CODE_A=<commit before> [BENCH_AB_CODE_B=<commit after>] npx tsx bench/webhook-ab.ts
 * BENCH_MIX as in bench/webhook.ts, plus BENCH_MIX=granted: only /daily, every one granted — each side's
 * clock moves a day ahead per slice and a slice's updates go to distinct users (BENCH_SLICE ≤ 1,000),
 * so each is its user's first /daily of that day, with the streak of the day before.
 */
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createApp as createAppHere } from '../lib/app.js';
import { parseConfig as parseConfigHere } from '../lib/config.js';
import { createLogger as createLoggerHere } from '../lib/log.js';
import { createRedisStore as createRedisStoreHere } from '../lib/kv/redis.js';
import { prefixedStore as prefixedStoreHere } from '../tests/fault/kv-prefix.js';
import { textUpdate } from '../tests/support/updates.js';
import { createBenchDatabase, fmt, REDIS_URL } from './support.js';
import { variantOverrides } from './variant-off.js';
import { mixedUpdateFor } from './webhook.js';

const SECRET = 'bench-webhook-secret';
const USERS = 1_000;
const SLICES = Number(process.env.BENCH_SLICES ?? 16);
const SLICE = Number(process.env.BENCH_SLICE ?? 300);
const OFF = (process.env.BENCH_VARIANT_OFF ?? '').split(',').filter(Boolean);
const GRANTED = process.env.BENCH_MIX === 'granted';
if (GRANTED && SLICE > USERS) throw new Error(`BENCH_MIX=granted: BENCH_SLICE must be at most ${USERS}`);

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
} else if (process.argv[2] !== 'side') {
  await main();
}


interface Side {
  name: string;
  cpu: number[];
  /** Registers the side's users and warms it up. */
  warm(): Promise<void>;
  /** Runs n mixed updates; returns the side's CPU time (ms) spent on them. */
  slice(n: number): Promise<number>;
  close(): Promise<void>;
}

interface SideSpec {
  off: string[];
  prefix: string;
  base: number;
  dbUrl: string;
  stub: string;
  busEnv: Record<string, string>;
}

/**
 * One side's app in this process: its CPU is process.cpuUsage() around the slice. With BENCH_AB_ROOT
 * (set for a side of BENCH_AB_CODE_A/B) the app's modules come from that copy of the code.
 */
async function localSide(name: string, spec: SideSpec): Promise<Side> {
  // BENCH_MIX=granted: the side's day (its clock's offset) and the next of its users to claim that day.
  let day = 0;
  let next = 0;
  const root = process.env.BENCH_AB_ROOT;
  const from = <T>(rel: string, here: T): Promise<T> => (root ? (import(pathToFileURL(path.join(root, rel)).href) as Promise<T>) : Promise.resolve(here));
  const { createApp } = await from('lib/app.ts', { createApp: createAppHere });
  const { parseConfig } = await from('lib/config.ts', { parseConfig: parseConfigHere });
  const { createLogger } = await from('lib/log.ts', { createLogger: createLoggerHere });
  const { createRedisStore } = await from('lib/kv/redis.ts', { createRedisStore: createRedisStoreHere });
  const { prefixedStore } = await from('tests/fault/kv-prefix.ts', { prefixedStore: prefixedStoreHere });
  const log = createLogger('info', () => {});
  const app = await createApp(
    parseConfig({
      ...spec.busEnv,
      DIANABOT_MODE: 'test',
      DATABASE_URL: spec.dbUrl,
      TELEGRAM_BOT_TOKEN: '123456:BENCH-token-for-the-local-bot-api-stub',
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      TELEGRAM_API_ROOT: spec.stub,
      BOT_USERNAME: 'DianaTestBot',
      REDIS_URL,
      LOG_LEVEL: 'info',
    }),
    {
      kv: prefixedStore(await createRedisStore(REDIS_URL), spec.prefix),
      log,
      ...variantOverrides(spec.off),
      ...(GRANTED ? { clock: () => new Date(Date.now() + day * 86_400_000) } : {}),
    },
  );
  const nextDay = () => {
    if (GRANTED) [day, next] = [day + 1, 0];
  };
  const post = (update: unknown) =>
    app.webhook({ method: 'POST', headers: { 'x-telegram-bot-api-secret-token': SECRET }, body: JSON.stringify(update) }).then((r) => {
      if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body}`);
    });
  const run = async (n: number, make: () => unknown) => {
    let left = n;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (left-- > 0) await post(make());
    }));
  };
  const mixed = () => (GRANTED ? textUpdate(spec.base + (next++ % USERS), '/daily') : mixedUpdateFor(spec.base + Math.floor(Math.random() * USERS)));
  return {
    name,
    cpu: [],
    async warm() {
      for (let i = 0; i < USERS; i += 16) await Promise.all(Array.from({ length: 16 }, (_, k) => post(textUpdate(spec.base + i + k, '/start'))));
      await run(500, mixed);
      nextDay();
    },
    async slice(n) {
      const c0 = process.cpuUsage();
      await run(n, mixed);
      const c = process.cpuUsage(c0);
      nextDay();
      return (c.user + c.system) / 1000;
    },
    close: () => app.close(),
  };
}

/**
 * One side in a child process of its own, with `env` added (BENCH_AB_ENV_A / BENCH_AB_ENV_B): for a
 * change that is process-wide (e.g. DIANABOT_WRITTEN_TRACKING=als, whose promise hooks would also
 * slow the other side down if both shared a process). The child reports its own CPU per slice.
 */
async function processSide(name: string, spec: SideSpec, env: Record<string, string>): Promise<Side> {
  const child = fork(fileURLToPath(import.meta.url), ['side'], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let waiting: ((v: { ms?: number; error?: string }) => void) | undefined;
  child.on('message', (m: { ms?: number; error?: string }) => waiting?.(m));
  const ask = (msg: object) =>
    new Promise<number>((resolve, reject) => {
      waiting = (m) => (m.error ? reject(new Error(m.error)) : resolve(m.ms ?? 0));
      child.send(msg);
    });
  await ask({ cmd: 'init', spec });
  return { name, cpu: [], warm: () => ask({ cmd: 'warm' }).then(() => {}), slice: (n) => ask({ cmd: 'slice', n }), close: () => ask({ cmd: 'close' }).then(() => {}) };
}

if (process.argv[2] === 'side') {
  let side: Side | undefined;
  process.on('message', async (m: { cmd: string; spec?: SideSpec; n?: number }) => {
    try {
      if (m.cmd === 'init') side = await localSide('child', m.spec!);
      else if (m.cmd === 'warm') await side!.warm();
      else if (m.cmd === 'slice') return process.send!({ ms: await side!.slice(m.n!) });
      else if (m.cmd === 'close') {
        await side!.close();
        process.send!({ ms: 0 });
        process.exit(0);
      }
      process.send!({ ms: 0 });
    } catch (err) {
      process.send!({ error: String(err) });
    }
  });
}

/**
 * A copy of the code at a commit (BENCH_AB_CODE_A=<commit>: that side runs the app of that commit, the
 * driver and the mix of this one), with this checkout's node_modules: for a change without a switch.
 */
function checkout(commit: string): string {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const sha = execFileSync('git', ['-C', repo, 'rev-parse', commit], { encoding: 'utf8' }).trim();
  const dir = path.join(repo, 'bench', '.ab-code', sha.slice(0, 12));
  if (!existsSync(path.join(dir, 'lib'))) {
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git -C '${repo}' archive ${sha} lib tests/fault/kv-prefix.ts content sql package.json | tar -x -C '${dir}'`]);
    symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'));
  }
  return dir;
}

async function main() {
  const services = fork(fileURLToPath(import.meta.url), ['services'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const { stub, busEnv } = await new Promise<{ stub: string; busEnv: Record<string, string> }>((r) => services.once('message', r as never));
  const bdb = await createBenchDatabase('webhook_ab');
  const codeA = process.env.BENCH_AB_CODE_A;
  const codeB = process.env.BENCH_AB_CODE_B;
  const envA = process.env.BENCH_AB_ENV_A || codeA ? { ...(process.env.BENCH_AB_ENV_A ? (JSON.parse(process.env.BENCH_AB_ENV_A) as Record<string, string>) : {}), ...(codeA ? { BENCH_AB_ROOT: checkout(codeA) } : {}) } : undefined;
  const envB = process.env.BENCH_AB_ENV_B || codeB ? { ...(process.env.BENCH_AB_ENV_B ? (JSON.parse(process.env.BENCH_AB_ENV_B) as Record<string, string>) : {}), ...(codeB ? { BENCH_AB_ROOT: checkout(codeB) } : {}) } : undefined;
  const spec = (off: string[], prefix: string, base: number): SideSpec => ({ off, prefix, base, dbUrl: bdb.url, stub, busEnv });
  const make = (name: string, s: SideSpec, env: Record<string, string> | undefined) => (envA || envB ? processSide(name, s, env ?? {}) : localSide(name, s));
  const label = (code: string | undefined, env: string | undefined) => [code && `code ${code}`, env].filter(Boolean).join(' ');
  const sides: Side[] = [
    await make(`A (${[OFF.length ? `off: ${OFF.join(',')}` : '', label(codeA, process.env.BENCH_AB_ENV_A)].filter(Boolean).join(' ') || 'nothing off'})`, spec(OFF, `ab:a:${process.pid}:`, 7_000_001), envA),
    await make(`B (${label(codeB, process.env.BENCH_AB_ENV_B) || 'as shipped'})`, spec([], `ab:b:${process.pid}:`, 7_000_001 + USERS), envB),
  ];
  try {
    for (const s of sides) await s.warm();
    for (let slice = 0; slice < SLICES; slice++) {
      for (const s of slice % 2 ? [...sides].reverse() : sides) s.cpu.push((await s.slice(SLICE)) / SLICE);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const s of sides) console.log(`  ${s.name.padEnd(32)} CPU per update: median ${fmt(med(s.cpu), 3)} ms (slices ${s.cpu.map((x) => fmt(x, 2)).join(' ')})`);
    const [a, b] = sides.map((s) => med(s.cpu)) as [number, number];
    // Paired: slice i of B against slice i of A (same moment of the run).
    const paired = med(sides[1]!.cpu.map((x, i) => x / sides[0]!.cpu[i]!));
    console.log(`  B/A ${fmt(b / a, 3)} (medians), paired median ${fmt(paired, 3)}; ${SLICES} slices × ${SLICE} updates per side${envA || envB ? ', one process per side' : ''}, mix ${process.env.BENCH_MIX ?? 'mixed'}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}, ${new Date().toISOString()}`);
  } finally {
    for (const s of sides) await s.close();
    await bdb.drop();
    services.send('exit');
  }
  process.exit(0);
}
