/**
 * Benchmark 2 — webhook (issue 6, ARCHITECTURE.md "Performance budget").
 *
 * The real api/telegram.ts handler (createApp → handleTelegramWebhook: secret, inbox, bot, ledger,
 * reply to the local Bot API stub, Redis for the daily-claim cache) served over node:http in a
 * child process, against the minimal telegraf bot of bench/baseline-bot.ts served the same way.
 * Mixed /daily /balance /history and "Más" callback presses from 1,000 users.
 *  - throughput: closed loop, CONCURRENCY requests in flight, for SECONDS;
 *  - latency: open loop at a steady 100 updates/s, p50/p99 measured by the client;
 *  - CPU ms per update: the server process (process.cpuUsage) and the whole machine (/proc/stat via os.cpus).
 * BENCH_PROFILE=1 writes a V8 CPU profile of the DianaBot server to bench/.profiles/.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDb, type Sql } from '../lib/db/client.js';
import { BotApiStub } from '../tests/support/bot-api-stub.js';
import { QStashServer } from '../tests/support/qstash-server.js';
import { callbackUpdate, textUpdate } from '../tests/support/updates.js';
import { closedLoop, createBenchDatabase, fmt, percentile, QUICK, REDIS_URL, sleep, type Ratio } from './support.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SECRET = 'bench-webhook-secret';
const USERS = 1_000;
const SECONDS = QUICK ? 4 : 8;
const CONCURRENCY = 16;
const RATE = 100;
const LATENCY_SECONDS = QUICK ? 5 : 10;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
/** BENCH_LATENCY=0 skips the latency phase (A/B runs of CPU per update and throughput only). */
const LATENCY = process.env.BENCH_LATENCY !== '0';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * Each measured side gets its own 1,000 users (a fresh range per side and round), so that every side
 * meets the same workload: users who said /start, whose first /daily of the day is granted. With one
 * shared range the side measured first paid for nearly every granted /daily (≈ 12 statements each)
 * and the later sides met only "already claimed".
 */
let userBase = 5_000_001;
const userId = () => userBase + Math.floor(Math.random() * USERS);
/**
 * BENCH_MIX=daily|balance|history|more measures one kind of update alone (what part of the mix a gap
 * comes from); the default is the mix below.
 */
const MIX = process.env.BENCH_MIX;
export const mixedUpdate = () => mixedUpdateFor(userId());
/** One update of the mix (or of BENCH_MIX's kind) from user `id`; bench/webhook-ab.ts sends the same. */
export function mixedUpdateFor(id: number) {
  const r = MIX === 'daily' ? 0 : MIX === 'balance' ? 0.3 : MIX === 'history' ? 0.6 : MIX === 'more' ? 0.9 : Math.random();
  if (r < 0.25) return textUpdate(id, '/daily');
  if (r < 0.5) return textUpdate(id, '/balance');
  if (r < 0.75) return textUpdate(id, '/history');
  return callbackUpdate(id, 'hist:999999999999');
}

export function post(port: number, update: unknown): Promise<number> {
  const body = JSON.stringify(update);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/telegram',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-telegram-bot-api-secret-token': SECRET },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(200) : reject(new Error(`status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Server {
  child: ChildProcess;
  port: number;
  /** Starts the child's V8 profiler; the returned function stops it and writes the profile to `file`. */
  profile(file: string): Promise<() => Promise<void>>;
  cpu(): Promise<NodeJS.CpuUsage & { writes: Record<string, number>; statements: Record<string, number> }>;
  stop(): Promise<void>;
}

export type Mode = 'baseline' | 'dianabot' | 'dianabot-qstash' | 'variant';
/**
 * BENCH_VARIANT_CONFIG='{"RATE_LIMIT_LOCAL_PERCENT":"0"}' adds a fourth side, the QStash-bus app with
 * these settings, so a change is measured against the code without it in the same run;
 * BENCH_WEBHOOK_MODES=baseline,dianabot-qstash,variant picks the sides.
 */
const VARIANT_CONFIG = process.env.BENCH_VARIANT_CONFIG ?? '';
/**
 * BENCH_VARIANT_OFF=claim-state,group-done (comma-separated) builds the variant side with these changes of
 * issue 18 switched off (bench/webhook-server.ts lists them), for a same-run "without".
 */
const VARIANT_OFF = process.env.BENCH_VARIANT_OFF ?? '';
const MODES = (process.env.BENCH_WEBHOOK_MODES?.split(',') ?? ['baseline', 'dianabot-qstash', 'dianabot', ...(VARIANT_CONFIG || VARIANT_OFF ? ['variant'] : [])]) as Mode[];
let busEnv = '{}';
/** The QStash stand-in's settings for dianabot-qstash servers (bench/story.ts shares startServer). */
export const setBusEnv = (env: Record<string, string>) => void (busEnv = JSON.stringify(env));

export async function startServer(mode: Mode, dbUrl: string, apiRoot: string, profile: boolean): Promise<Server> {
  const execArgv = ['--import', 'tsx'];
  const child = fork(path.join(HERE, 'webhook-server.ts'), [mode === 'variant' ? 'dianabot-qstash' : mode, dbUrl, apiRoot, REDIS_URL, `bench:${process.pid}:${Date.now()}:`, busEnv], {
    execArgv,
    env: { ...process.env, BENCH_EXTRA_CONFIG: mode === 'variant' ? VARIANT_CONFIG : '', BENCH_VARIANT_OFF: mode === 'variant' ? VARIANT_OFF : '' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  const reply = <T>(cmd: object, key: string) =>
    new Promise<T>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (key in m) {
          child.off('message', on);
          resolve(m as T);
        }
      };
      child.on('message', on);
      child.send(cmd);
    });
  return {
    child,
    port,
    profile: async (file) => {
      await reply({ cmd: 'profile-start' }, 'profiling');
      return async () => void (await reply({ cmd: 'profile-stop', file }, 'profiled'));
    },
    cpu: () =>
      new Promise((resolve) => {
        child.once('message', (m: { cpu: NodeJS.CpuUsage; writes: Record<string, number>; statements: Record<string, number> }) =>
          resolve({ ...m.cpu, writes: m.writes, statements: m.statements }),
        );
        child.send({ cmd: 'cpu' });
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send({ cmd: 'exit' });
      }),
  };
}

/** CPU ms used so far by the Postgres backends serving the benchmark database (from /proc). */
async function pgCpuMs(admin: Sql, dbName: string): Promise<Map<number, number>> {
  const rows = await admin<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${dbName}`;
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, ((Number(f[11]) + Number(f[12])) * 1000) / TICKS);
    } catch {
      /* exited, or Postgres runs elsewhere */
    }
  }
  return out;
}
const TICKS = 100;
const pgDelta = (a: Map<number, number>, b: Map<number, number>) => [...b].reduce((s, [pid, ms]) => s + ms - (a.get(pid) ?? 0), 0);

const machineCpuMs = () => os.cpus().reduce((s, c) => s + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);

interface Result {
  throughput: number;
  errors: number;
  p50: number;
  p99: number;
  latencyErrors: number;
  serverCpuMs: number;
  pgCpuMs: number;
  machineCpuMs: number;
}

let sideCounter = 0;
async function measure(mode: Mode, dbUrl: string, dbName: string, stub: BotApiStub, profile: boolean): Promise<Result> {
  const admin = createDb(dbUrl, { max: 1 });
  const server = await startServer(mode, dbUrl, stub.url, profile);
  try {
    // Warm-up: every user says /start once (registration, JIT, pools), then a short mixed burst.
    userBase = 5_000_001 + USERS * sideCounter++;
    const ids = Array.from({ length: USERS }, (_, i) => userBase + i);
    await closedLoop(CONCURRENCY, 0.001, async () => {});
    for (let i = 0; i < ids.length; i += CONCURRENCY) {
      await Promise.all(ids.slice(i, i + CONCURRENCY).map((id) => post(server.port, textUpdate(id, '/start'))));
    }
    await closedLoop(CONCURRENCY, 1, () => post(server.port, mixedUpdate()).then(() => {}));

    const cpu0 = await server.cpu();
    const pg0 = await pgCpuMs(admin, dbName);
    const m0 = machineCpuMs();
    const stopProfile = profile ? await server.profile(path.join(HERE, '.profiles', `webhook-${mode}-${Date.now()}.cpuprofile`)) : undefined;
    const tp = await closedLoop(CONCURRENCY, SECONDS, () => post(server.port, mixedUpdate()).then(() => {}));
    await stopProfile?.();
    const m1 = machineCpuMs();
    const pg1 = await pgCpuMs(admin, dbName);
    const cpu1 = await server.cpu();
    if (process.env.BENCH_COUNT_IO === '1') {
      const per = Object.entries(cpu1.writes).map(([k, v]) => `${k} ${fmt((v - (cpu0.writes[k] ?? 0)) / tp.done, 2)}`);
      console.log(`  ${mode}: socket writes per update: ${per.join(', ')}`);
      const st = Object.entries(cpu1.statements)
        .map(([k, v]) => [k, (v - (cpu0.statements[k] ?? 0)) / tp.done] as const)
        .filter(([, v]) => v > 0.005)
        .sort((a, b) => b[1] - a[1]);
      if (st.length) console.log(`  ${mode}: SQL statements per update (${fmt(st.reduce((s, [, v]) => s + v, 0), 2)} in all):\n${st.map(([k, v]) => `    ${fmt(v, 2).padStart(5)}  ${k}`).join('\n')}`);
    }
    const serverCpuMs = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000 / tp.done;

    await sleep(500);
    const latencies: number[] = [];
    let latencyErrors = 0;
    const total = LATENCY ? RATE * LATENCY_SECONDS : 0;
    const start = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      pending.push(
        post(server.port, mixedUpdate()).then(
          () => void latencies.push(performance.now() - t0),
          () => void latencyErrors++,
        ),
      );
    }
    await Promise.all(pending);
    latencies.sort((a, b) => a - b);
    return {
      throughput: tp.perSecond,
      errors: tp.errors,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      latencyErrors,
      serverCpuMs,
      pgCpuMs: pgDelta(pg0, pg1) / tp.done,
      machineCpuMs: (m1 - m0) / tp.done,
    };
  } finally {
    await server.stop();
    await admin.end();
  }
}

const describe = (r: Result) =>
  `${fmt(r.throughput).padStart(6)} updates/s (${r.errors} errors) | at ${RATE}/s p50 ${fmt(r.p50, 1)} ms p99 ${fmt(r.p99, 1)} ms (${r.latencyErrors} errors) | CPU/update: server ${fmt(r.serverCpuMs, 2)} ms, postgres ${fmt(r.pgCpuMs, 2)} ms, whole machine ${fmt(r.machineCpuMs, 2)} ms`;

export async function benchWebhook(): Promise<Ratio[]> {
  console.log(`\n== 2. Webhook (mixed /daily /balance /history + callbacks, ${USERS} users, ${CONCURRENCY} in flight, ${SECONDS} s; latency at ${RATE}/s for ${LATENCY_SECONDS} s) ==`);
  const bdb = await createBenchDatabase('webhook');
  const stub = await new BotApiStub().start();
  // Vercel's shape: the after-commit relay publishes to QStash (here the local stand-in, not delivering:
  // subscribers run in their own functions, measured by bench/relay.ts).
  const qstash = await new QStashServer({ deliver: false, dedupWindowMs: 0 }).start();
  busEnv = JSON.stringify(qstash.env('http://127.0.0.1:9/bench'));
  const profile = process.env.BENCH_PROFILE === '1';
  const rounds: Record<string, Result[]> = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        const r = await measure(mode, bdb.url, bdb.name, stub, profile && (mode === 'dianabot-qstash' || process.env.BENCH_PROFILE_ALL === '1') && round === 0);
        stub.reset();
        console.log(`  round ${round + 1} ${mode.padEnd(15)}: ${describe(r)}`);
        (rounds[mode] ??= []).push(r);
      }
    }
    // The same rule for every side: the best throughput of the rounds (noise only ever slows a closed
    // loop down) and the median p50/p99 of the rounds (one noisy neighbour should not decide latency).
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const summary = (rs: Result[]): Result => ({
      ...rs.reduce((a, c) => (c.throughput > a.throughput ? c : a)),
      p50: med(rs.map((x) => x.p50)),
      p99: med(rs.map((x) => x.p99)),
    });
    // CPU per update is the figure a loaded machine distorts least: the median of the rounds per side.
    console.log(`  server CPU per update, median of ${ROUNDS} round(s): ${Object.entries(rounds).map(([m, rs]) => `${m} ${fmt(med(rs.map((x) => x.serverCpuMs)), 2)} ms (postgres ${fmt(med(rs.map((x) => x.pgCpuMs)), 2)})`).join(', ')}`);
    if (!rounds.baseline) return [];
    const b = summary(rounds.baseline);
    const q = summary(rounds['dianabot-qstash']!);
    const d = summary(rounds.dianabot ?? rounds['dianabot-qstash']!);
    if (rounds.variant) {
      const v = summary(rounds.variant);
      console.log(`  variant ${[VARIANT_CONFIG, VARIANT_OFF && `off: ${VARIANT_OFF}`].filter(Boolean).join(" ")}: ${describe(v)}`);
      console.log(`  variant/baseline ${fmt(v.throughput / b.throughput, 2)}×, dianabot-qstash/variant ${fmt(q.throughput / v.throughput, 2)}× (the change measured in this run)`);
    }
    const ratio = q.throughput / b.throughput;
    console.log(`  best throughput / median latency of the rounds:`);
    console.log(`  baseline       : ${describe(b)}`);
    console.log(`  dianabot-qstash: ${describe(q)}`);
    console.log(`  dianabot       : ${describe(d)}`);
    console.log(
      `  throughput ratio dianabot/baseline ${fmt(ratio, 2)}× with the Vercel bus (QStash), ${fmt(d.throughput / b.throughput, 2)}× with in-process subscribers ` +
        `(target ≥ 0.5×, floor 500/s); p99 at ${RATE}/s ${fmt(q.p99, 1)} / ${fmt(d.p99, 1)} ms (target ≤ 25 ms)`,
    );
    return [
      { name: 'webhook throughput dianabot/baseline (QStash bus)', value: ratio, target: '≥ 0.5', pass: ratio >= 0.5 && q.throughput >= 500, detail: `${fmt(q.throughput)} vs ${fmt(b.throughput)} updates/s; in-process bus ${fmt(d.throughput)}/s (${fmt(d.throughput / b.throughput, 2)}×)` },
      { name: 'webhook p99 at 100/s (ms, QStash bus)', value: q.p99, target: '≤ 25', pass: q.p99 <= 25, detail: `p50 ${fmt(q.p50, 1)} ms; in-process bus p99 ${fmt(d.p99, 1)} ms; baseline p99 ${fmt(b.p99, 1)} ms` },
    ];
  } finally {
    await stub.stop();
    await qstash.stop();
    agent.destroy();
    await bdb.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchWebhook().then(
    (r) => console.log(r),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
