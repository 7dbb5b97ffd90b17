/**
 * Benchmark 3 — cold start (issues 6, 18).
 *
 * The production build: `npm run build`'s own code (scripts/build.ts, Build Output API v3, one esbuild
 * bundle per function) writes the functions into bench/.build/output; then, in fresh child processes,
 * alternating, median of RUNS:
 *  - bundled (production): import the webhook function's bundle from its own `.func` folder and
 *    handle the first update (/start of a new user: config, Postgres and the Upstash REST client —
 *    Vercel's store, a local REST shim over Redis here —, registration, the reply to the local Bot
 *    API stub, the after-commit relay to the local QStash stand-in), timed from just before the
 *    import to the response;
 *  - baseline: import bare telegraf, timed the same way, in the same run;
 *  - unbundled (informative): api/ and lib/ compiled file by file, on ioredis (`npm start`'s shape).
 * Both also report the time since process start (Node's own boot included). Target (issue 18):
 * bundled / baseline ≤ 2.5× (stretch 2×). BENCH_PROFILE=1 writes a V8 CPU profile of the first
 * bundled child to bench/.profiles/ (summarise with bench/profile-summary.ts).
 */
import { execFile } from 'node:child_process';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { buildFunctions } from '../scripts/build.js';
import { BotApiStub } from '../tests/support/bot-api-stub.js';
import { QStashServer } from '../tests/support/qstash-server.js';
import { startUpstashShim } from '../tests/support/upstash-shim.js';
import { createBenchDatabase, fmt, QUICK, REDIS_URL, type Ratio } from './support.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench/.build');
const RUNS = Number(process.env.BENCH_COLD_RUNS ?? (QUICK ? 5 : 11));
/** BENCH_COLD_UNBUNDLED=0 skips the informative unbundled variant (faster iterations on the bundle). */
const WITH_UNBUNDLED = process.env.BENCH_COLD_UNBUNDLED !== '0';

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listTs(rel)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const APP_CHILD = `
const t0 = performance.now();
const { default: handler } = await import('./api/telegram.js');
const imported = performance.now();
const { getApp } = await import('./lib/app.js');
await getApp(); // config, pools, key-value store connection, bot: what the first request pays before its update
const initialised = performance.now();
const update = JSON.parse(process.env.BENCH_UPDATE);
const req = { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': process.env.TELEGRAM_WEBHOOK_SECRET }, body: update };
const result = await new Promise((resolve) => {
  const res = { statusCode: 0, status(c) { this.statusCode = c; return this; }, send(b) { resolve({ status: this.statusCode, body: b }); return this; } };
  handler(req, res).catch((e) => resolve({ status: 599, body: String(e) }));
});
const done = performance.now();
const mods = Object.keys(globalThis).length;
process.stdout.write(JSON.stringify({ importMs: imported - t0, initMs: initialised - imported, handleMs: done - initialised, firstUpdateMs: done - imported, totalMs: done - t0, sinceStartMs: done, status: result.status }) + '\\n');
process.exit(0);
`;

/** The same first update through the production function (cwd: its .func folder; BENCH_ENTRY: the handler file). */
const BUNDLE_CHILD = `
const c0 = process.cpuUsage();
const t0 = performance.now();
const { default: handler } = await import(process.env.BENCH_ENTRY);
const imported = performance.now();
const update = JSON.parse(process.env.BENCH_UPDATE);
const req = { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': process.env.TELEGRAM_WEBHOOK_SECRET }, body: update };
const result = await new Promise((resolve) => {
  const res = { statusCode: 0, status(c) { this.statusCode = c; return this; }, send(b) { resolve({ status: this.statusCode, body: b }); return this; } };
  handler(req, res).catch((e) => resolve({ status: 599, body: String(e) }));
});
const done = performance.now();
const cpu = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({ importMs: imported - t0, firstUpdateMs: done - imported, totalMs: done - t0, sinceStartMs: done, cpuMs: (cpu.user + cpu.system) / 1000, status: result.status, body: String(result.body).slice(0, 300) }) + '\\n');
process.exit(0);
`;

const BASELINE_CHILD = `
const c0 = process.cpuUsage();
const t0 = performance.now();
await import('telegraf');
const done = performance.now();
const cpu = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({ importMs: done - t0, firstUpdateMs: 0, totalMs: done - t0, sinceStartMs: done, cpuMs: (cpu.user + cpu.system) / 1000, status: 200 }) + '\\n');
process.exit(0);
`;

interface Sample {
  importMs: number;
  initMs?: number;
  handleMs?: number;
  body?: string;
  firstUpdateMs: number;
  totalMs: number;
  sinceStartMs: number;
  /** CPU time of the child (user + system) over the same span: far less sensitive to a loaded machine than wall time. */
  cpuMs?: number;
  status: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchColdStart(): Promise<Ratio[]> {
  console.log(`\n== 3. Cold start (fresh process each, median of ${RUNS}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}) ==`);
  await rm(OUT, { recursive: true, force: true });
  // The production build (npm run build's code and options), into a folder of its own.
  const built = await buildFunctions(path.join(OUT, 'output'));
  const webhook = built.functions.find((f) => f.source === 'api/telegram.ts');
  if (!webhook) throw new Error('the build made no api/telegram function');
  const BUNDLE = webhook.dir;
  await writeFile(path.join(OUT, 'bundle-child.mjs'), BUNDLE_CHILD);
  // Informative: the unbundled shape (api/ and lib/ compiled file by file).
  const UNBUNDLED = path.join(OUT, 'unbundled');
  const entryPoints = [...(await listTs('api')), ...(await listTs('lib'))].map((f) => path.join(ROOT, f));
  await build({ entryPoints, outdir: UNBUNDLED, outbase: ROOT, format: 'esm', platform: 'node', target: 'node20', bundle: false, logLevel: 'warning' });
  await writeFile(path.join(UNBUNDLED, 'app-child.mjs'), APP_CHILD);
  await writeFile(path.join(UNBUNDLED, 'baseline-child.mjs'), BASELINE_CHILD);
  await writeFile(path.join(UNBUNDLED, 'package.json'), '{"type":"module"}');

  const bdb = await createBenchDatabase('cold');
  const stub = await new BotApiStub().start();
  const qstash = await new QStashServer({ deliver: false }).start();
  // Vercel's key-value store: the Upstash REST client (here a local REST shim over the same Redis).
  const upstash = await startUpstashShim(REDIS_URL);
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    DIANABOT_MODE: 'vercel',
    DATABASE_URL: bdb.url,
    REDIS_URL,
    TELEGRAM_BOT_TOKEN: '123456:COLD-start-token-for-the-local-stub',
    TELEGRAM_WEBHOOK_SECRET: 'cold-start-secret',
    PSEUDONYM_SECRET: 'cold-start-pseudonym-secret-0123456789',
    TELEGRAM_API_ROOT: stub.url,
    BOT_USERNAME: 'DianaTestBot',
    LOG_LEVEL: 'silent',
    ...qstash.env('http://127.0.0.1:9/cold'),
  };
  const app: Sample[] = [];
  const base: Sample[] = [];
  const bundled: Sample[] = [];
  const { REDIS_URL: _redis, ...envWithoutRedis } = env;
  const upstashEnv = { ...envWithoutRedis, UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token, BENCH_ENTRY: path.join(BUNDLE, webhook.handler) };
  const childScript = path.join(OUT, 'bundle-child.mjs');
  try {
    for (let i = 0; i < RUNS; i++) {
      const update = (id: number, user: number) => ({
        update_id: id,
        message: {
          message_id: 1,
          from: { id: user, is_bot: false, first_name: 'Fría', language_code: 'es' },
          chat: { id: user, first_name: 'Fría', type: 'private' },
          date: Math.floor(Date.now() / 1000),
          text: '/start',
          entities: [{ offset: 0, length: 6, type: 'bot_command' }],
        },
      });
      const b = await run(process.execPath, ['baseline-child.mjs'], { cwd: UNBUNDLED, env: { PATH: env.PATH } });
      base.push(JSON.parse(b.stdout.trim().split('\n').at(-1)!));
      // BENCH_PROFILE=1: a V8 CPU profile of the first bundled child (bench/.profiles/), for bench/profile-summary.ts.
      const prof = process.env.BENCH_PROFILE === '1' && i === 0 ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${path.join(ROOT, 'bench/.profiles')}`] : [];
      const c = await run(process.execPath, [...prof, childScript], { cwd: BUNDLE, env: { ...upstashEnv, BENCH_UPDATE: JSON.stringify(update(30_000 + i, 9_500_000 + i)) } });
      bundled.push(JSON.parse(c.stdout.trim().split('\n').at(-1)!));
      if (!WITH_UNBUNDLED) continue;
      const a = await run(process.execPath, ['app-child.mjs'], { cwd: UNBUNDLED, env: { ...env, BENCH_UPDATE: JSON.stringify(update(10_000 + i, 8_000_000 + i)) } });
      app.push(JSON.parse(a.stdout.trim().split('\n').at(-1)!));
    }
  } finally {
    await stub.stop();
    await qstash.stop();
    await upstash.stop();
    await bdb.drop();
  }
  const bad = [...app, ...bundled].filter((s) => s.status !== 200);
  if (bad.length) console.log(`  WARNING: ${bad.length} first updates did not get a 200 (${bad.map((s) => `${s.status} ${s.body ?? ''}`).join('; ')})`);
  type NumericKey = Exclude<keyof Sample, 'body'>;
  const m = (xs: Sample[], k: NumericKey) => median(xs.map((x) => x[k] ?? 0));
  const baseTotal = m(base, 'totalMs');
  const bundledTotal = m(bundled, 'totalMs');
  const ratio = bundledTotal / baseTotal;
  const sinceStartRatio = m(bundled, 'sinceStartMs') / m(base, 'sinceStartMs');
  const appTotal = m(app, 'totalMs');
  console.log(`  baseline: import telegraf ${fmt(baseTotal, 1)} ms (process start → imported ${fmt(m(base, 'sinceStartMs'), 1)} ms)`);
  console.log(`  bundled (npm run build, Upstash REST): import ${fmt(m(bundled, 'importMs'), 1)} ms + first update ${fmt(m(bundled, 'firstUpdateMs'), 1)} ms = ${fmt(bundledTotal, 1)} ms (process start → answered ${fmt(m(bundled, 'sinceStartMs'), 1)} ms)`);
  if (WITH_UNBUNDLED) console.log(`  unbundled, ioredis (informative): import ${fmt(m(app, 'importMs'), 1)} ms + first update ${fmt(m(app, 'firstUpdateMs'), 1)} ms (app init ${fmt(m(app, 'initMs'), 1)} ms, handling ${fmt(m(app, 'handleMs'), 1)} ms) = ${fmt(appTotal, 1)} ms → ${fmt(appTotal / baseTotal, 2)}×`);
  const cpuRatio = m(bundled, 'cpuMs') / m(base, 'cpuMs');
  console.log(`  CPU time (user + system, same spans): bundled ${fmt(m(bundled, 'cpuMs'), 1)} ms vs telegraf ${fmt(m(base, 'cpuMs'), 1)} ms → ${fmt(cpuRatio, 2)}×`);
  console.log(`  ratio bundled/baseline ${fmt(ratio, 2)}× (target ≤ 2.5×, stretch 2×); from process start ${fmt(sinceStartRatio, 2)}×`);
  return [
    {
      name: 'cold start bundled (import + first update) / import telegraf',
      value: ratio,
      target: '≤ 2.5',
      pass: ratio <= 2.5,
      detail: `${fmt(bundledTotal, 1)} vs ${fmt(baseTotal, 1)} ms; CPU ${fmt(cpuRatio, 2)}×; from process start ${fmt(sinceStartRatio, 2)}×${WITH_UNBUNDLED ? `; unbundled ${fmt(appTotal / baseTotal, 2)}×` : ''}`,
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchColdStart().then(
    (r) => console.log(r),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
