/**
 * Shared helpers for the benchmarks: a throw-away benchmark database, percentiles, machine facts.
 * Benchmarks are scripts, not library code, so they read their own environment here.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createDb, type Sql } from '../lib/db/client.js';
import { migrate } from '../lib/db/migrate.js';

export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Seconds per throughput run; BENCH_QUICK=1 halves everything for a smoke run. */
export const QUICK = process.env.BENCH_QUICK === '1';

export interface BenchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh database migrated with the production runner, dropped at the end of the run. */
export async function createBenchDatabase(label: string): Promise<BenchDatabase> {
  const name = `dianabot_bench_${label}_${Date.now()}_${process.pid}`;
  const admin = createDb(ADMIN_URL, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), { max: 1 });
  await migrate(db);
  await db.end();
  return {
    url: url.toString(),
    name,
    async drop() {
      const a = createDb(ADMIN_URL, { max: 1 });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : String(n);

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  let pg = '';
  try {
    pg = execFileSync('psql', ['--version']).toString().trim();
  } catch {
    pg = 'psql not found';
  }
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, ${pg}`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `workers` loops of `op` until `seconds` pass; returns completed operations per second. */
export async function closedLoop(workers: number, seconds: number, op: (worker: number, i: number) => Promise<void>) {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        try {
          await op(w, i);
          done++;
        } catch (err) {
          errors++;
          if (errors <= 3) console.error(`  [bench] worker ${w} error: ${(err as Error).message}`);
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { perSecond: done / elapsed, done, errors, elapsed };
}

export type Db = Sql;

export interface Ratio {
  name: string;
  value: number;
  target: string;
  pass: boolean;
  detail: string;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux). */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/**
 * CPU used by the Postgres backends of one database (and optionally other pids) over a window:
 * polls pg_stat_activity and /proc every 100 ms, so short-lived backends (pgbench's) are counted too.
 */
export class CpuMonitor {
  private first = new Map<number, number>();
  private last = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  constructor(private db: Db, private dbName: string, private extraPids: () => number[] = () => []) {}

  private async poll() {
    const rows = await this.db<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${this.dbName}`;
    for (const pid of [...rows.map((r) => r.pid), ...this.extraPids()]) {
      const ms = procCpuMs(pid);
      if (ms === null) continue;
      if (!this.first.has(pid)) this.first.set(pid, this.started ? 0 : ms);
      this.last.set(pid, ms);
    }
  }

  private started = false;

  async start() {
    await this.poll();
    this.started = true; // backends that appear later started inside the window: count all their CPU
    this.timer = setInterval(() => {
      this.polling = this.polling.then(() => this.poll()).catch(() => {});
    }, 100);
  }

  /** CPU ms per pid group used since start(). */
  async stop(): Promise<{ postgresMs: number; extraMs: number }> {
    clearInterval(this.timer);
    await this.polling;
    await this.poll().catch(() => {});
    const extra = new Set(this.extraPids());
    let postgresMs = 0;
    let extraMs = 0;
    for (const [pid, end] of this.last) {
      const d = end - (this.first.get(pid) ?? 0);
      if (extra.has(pid)) extraMs += d;
      else postgresMs += d;
    }
    return { postgresMs, extraMs };
  }
}

/**
 * With BENCH_PROFILE=1, runs fn under the V8 CPU profiler (node:inspector) and writes
 * bench/.profiles/<name>.cpuprofile (summarise with bench/profile-summary.ts); otherwise just runs it.
 */
export async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (process.env.BENCH_PROFILE !== '1') return fn();
  const { Session } = await import('node:inspector');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await post('Profiler.stop');
    const dir = new URL('./.profiles/', import.meta.url);
    await mkdir(dir, { recursive: true });
    await writeFile(new URL(`${name}.cpuprofile`, dir), JSON.stringify(profile));
    session.disconnect();
  }
}
