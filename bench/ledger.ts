/**
 * Benchmark 1 — ledger throughput (issue 6).
 *
 * grantBesitos/spendBesitos (50/50, amount 1) through lib/besitos at 8 and 32 connections,
 * (a) spread over 10,000 users, (b) all on one hot user. Baselines measured in the same run:
 *  - pgbench running the same guarded CTE statement (the raw-database ceiling: C client, prepared);
 *  - the seed's naive pattern in Node: BEGIN; SELECT … FOR UPDATE; check in the app; UPDATE;
 *    INSERT transaction; INSERT outbox; COMMIT (six round trips holding the row lock).
 * Targets: (a) lib ≥ 0.8× pgbench, (b) lib ≥ 1.5× naive.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDb, type Sql } from '../lib/db/client.js';
import { grantBesitos, spendBesitos } from '../lib/besitos/ledger.js';
import { newEvent } from '../lib/bus/outbox.js';
import { closedLoop, CpuMonitor, createBenchDatabase, fmt, profiled, QUICK, type Ratio } from './support.js';

/** Operations per second, and CPU µs per operation spent by the client and by Postgres. */
interface Run {
  ops: number;
  clientUs: number;
  pgUs: number;
}

const USERS = 10_000;
const HOT_USER = USERS + 1;
const SECONDS = QUICK ? 3 : 5;
/** Each trio (pgbench, lib, naive) runs REPS times interleaved; each side keeps its best run. */
const REPS = QUICK ? 1 : 2;
const START_BALANCE = 100_000_000;

async function seed(db: Sql) {
  await db`INSERT INTO users (telegram_id, first_name) SELECT g, 'Bench' FROM generate_series(1, ${HOT_USER}) g`;
  await db`INSERT INTO user_balances (user_id, besitos, lifetime_besitos) SELECT id, ${START_BALANCE}, ${START_BALANCE} FROM users`;
  await db`INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key)
           SELECT id, ${START_BALANCE}, 'grant', 'admin', ${START_BALANCE}, 'seed:' || id FROM users`;
  await db`VACUUM ANALYZE`;
}

/** The same statement lib/besitos/ledger.ts sends, with pgbench variables for the parameters. */
function pgbenchScript(kind: 'grant' | 'spend', hot: boolean): string {
  const delta = kind === 'grant' ? 1 : -1;
  const lifetime = kind === 'grant' ? 1 : 0;
  const type = kind === 'grant' ? 'gamification.besitos_earned' : 'gamification.besitos_spent';
  const key = `'pgb:' || :client_id::text || ':' || :k::text`;
  return `\\set uid ${hot ? HOT_USER : `random(1, ${USERS})`}
\\set k random(1, 999999999999)
WITH existing AS (
  SELECT * FROM transactions WHERE idempotency_key = ${key}
), upd AS (
  UPDATE user_balances
     SET besitos = besitos + ${delta}, lifetime_besitos = lifetime_besitos + ${lifetime}, updated_at = now()
   WHERE user_id = :uid AND besitos - held + ${delta} >= 0 AND NOT EXISTS (SELECT 1 FROM existing)
  RETURNING besitos
), ins AS (
  INSERT INTO transactions (user_id, amount, type, source, description, metadata, balance_after, idempotency_key)
  SELECT :uid, ${delta}, '${kind}', 'bench', NULL, '{}'::jsonb, upd.besitos, ${key}
    FROM upd
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING *
), ev AS (
  INSERT INTO outbox (event_id, type, user_id, event)
  SELECT gen_random_uuid(), '${type}', :uid,
         jsonb_set(jsonb_build_object('type', '${type}', 'version', 1, 'occurred_at', now(), 'user_id', :uid::bigint, 'data', '{}'::jsonb), '{data}',
           ('{"amount": 1, "source": "bench"}'::jsonb) || jsonb_build_object('transaction_id', ins.id, 'balance_after', ins.balance_after))
    FROM ins
)
SELECT (SELECT to_jsonb(existing) FROM existing) AS existing,
       (SELECT to_jsonb(ins) FROM ins) AS inserted,
       ledger_abort_if((SELECT count(*) FROM upd) > 0 AND (SELECT count(*) FROM ins) = 0, 'idempotency race') AS aborted,
       EXISTS (SELECT 1 FROM user_balances WHERE user_id = :uid) AS has_account,
       (SELECT besitos - held FROM user_balances WHERE user_id = :uid) AS balance;
`;
}

async function pgbench(admin: Sql, url: string, clients: number, hot: boolean, dir: string): Promise<Run> {
  const grant = path.join(dir, `grant-${hot}.sql`);
  const spend = path.join(dir, `spend-${hot}.sql`);
  await writeFile(grant, pgbenchScript('grant', hot));
  await writeFile(spend, pgbenchScript('spend', hot));
  const u = new URL(url);
  const child = spawn('pgbench', [
    '-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'),
    '-n', '-M', 'prepared', '-c', String(clients), '-j', '2', '-T', String(SECONDS),
    '-f', `${grant}@1`, '-f', `${spend}@1`, u.pathname.slice(1),
  ], { env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) } });
  const monitor = new CpuMonitor(admin, u.pathname.slice(1), () => (child.pid ? [child.pid] : []));
  await monitor.start();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const cpu = await monitor.stop();
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (code !== 0 || !m) throw new Error(`pgbench failed (${code}):\n${stdout}\n${stderr}`);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (failed && Number(failed[1]) > 0) console.log(`  [pgbench] ${failed[1]} failed transactions`);
  const tps = Number(m[1]);
  const total = tps * SECONDS;
  return { ops: tps, clientUs: (cpu.extraMs * 1000) / total, pgUs: (cpu.postgresMs * 1000) / total };
}

/** Runs a closed loop and measures this process's CPU and the database's. */
async function measured(admin: Sql, url: string, clients: number, op: (db: Sql, w: number, i: number) => Promise<unknown>, label: string): Promise<Run> {
  const db = createDb(url, { max: clients });
  await db`SELECT 1`;
  const monitor = new CpuMonitor(admin, new URL(url).pathname.slice(1));
  await monitor.start();
  const cpu0 = process.cpuUsage();
  const r = await profiled(`ledger-${label}`, () => closedLoop(clients, SECONDS, async (w, i) => void (await op(db, w, i))));
  const cpu1 = process.cpuUsage(cpu0);
  const pg = await monitor.stop();
  await db.end();
  if (r.errors) console.log(`  [${label}] ${r.errors} errors`);
  return { ops: r.perSecond, clientUs: (cpu1.user + cpu1.system) / r.done, pgUs: (pg.postgresMs * 1000) / r.done };
}

function viaLibrary(admin: Sql, url: string, clients: number, hot: boolean, tag: string): Promise<Run> {
  return measured(admin, url, clients, (db, w, i) => {
    const userId = hot ? HOT_USER : 1 + Math.floor(Math.random() * USERS);
    const p = { userId, amount: 1, source: 'admin', idempotencyKey: `lib:${tag}:${w}:${i}` };
    return i % 2 === 0 ? grantBesitos(db, p) : spendBesitos(db, p);
  }, 'lib');
}

/** The seed's pattern (§ "locks de base de datos": select_for_update, check, save) plus the same rows. */
function naive(admin: Sql, url: string, clients: number, hot: boolean, tag: string): Promise<Run> {
  return measured(admin, url, clients, async (db, w, i) => {
    const userId = hot ? HOT_USER : 1 + Math.floor(Math.random() * USERS);
    const kind = i % 2 === 0 ? 'grant' : 'spend';
    const delta = kind === 'grant' ? 1 : -1;
    const event = newEvent(kind === 'grant' ? 'gamification.besitos_earned' : 'gamification.besitos_spent', { amount: 1, source: 'bench' }, userId);
    await db.begin(async (tx) => {
      const [bal] = await tx<{ besitos: number }[]>`SELECT besitos FROM user_balances WHERE user_id = ${userId} FOR UPDATE`;
      if (!bal) throw new Error('no account');
      if (bal.besitos + delta < 0) throw new Error('insufficient');
      const after = bal.besitos + delta;
      await tx`UPDATE user_balances SET besitos = ${after}, lifetime_besitos = lifetime_besitos + ${Math.max(delta, 0)}, updated_at = now()
                WHERE user_id = ${userId}`;
      const [t] = await tx<{ id: number }[]>`
        INSERT INTO transactions (user_id, amount, type, source, metadata, balance_after, idempotency_key)
        VALUES (${userId}, ${delta}, ${kind}, 'bench', '{}', ${after}, ${`naive:${tag}:${w}:${i}`}) RETURNING id`;
      await tx`INSERT INTO outbox (event_id, type, user_id, event)
               VALUES (${event.event_id}, ${event.type}, ${userId}, ${tx.json({ ...event, data: { ...event.data, transaction_id: t!.id, balance_after: after } } as never)})`;
    });
  }, 'naive');
}

export async function benchLedger(): Promise<Ratio[]> {
  console.log(`\n== 1. Ledger throughput (grant/spend 50/50, ${SECONDS} s per run, best of ${REPS} interleaved runs per side) ==`);
  const bdb = await createBenchDatabase('ledger');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-pgbench-'));
  const db = createDb(bdb.url, { max: 2 });
  const ratios: Ratio[] = [];
  try {
    await seed(db);
    for (const hot of [false, true]) {
      for (const clients of [8, 32]) {
        const tag = `${hot ? 'hot' : 'spread'}${clients}`;
        // Interleaved in the same minute so machine noise hits all three alike.
        const best = (a: Run | undefined, b: Run) => (!a || b.ops > a.ops ? b : a);
        let pg: Run | undefined;
        let lib: Run | undefined;
        let nv: Run | undefined;
        for (let rep = 0; rep < REPS; rep++) {
          pg = best(pg, await pgbench(db, bdb.url, clients, hot, dir));
          lib = best(lib, await viaLibrary(db, bdb.url, clients, hot, `${tag}r${rep}`));
          nv = best(nv, await naive(db, bdb.url, clients, hot, `${tag}r${rep}`));
        }
        if (!pg || !lib || !nv) throw new Error('no runs');
        const line =
          `  ${hot ? '(b) hot user     ' : '(a) 10,000 users '} c=${String(clients).padStart(2)}: lib/besitos ${fmt(lib.ops).padStart(6)} ops/s | pgbench ${fmt(pg.ops).padStart(6)} tps | naive ${fmt(nv.ops).padStart(6)} ops/s | lib/pgbench ${fmt(lib.ops / pg.ops, 2)}× | lib/naive ${fmt(lib.ops / nv.ops, 2)}×\n` +
          `${' '.repeat(26)}CPU µs/op client+postgres: lib ${fmt(lib.clientUs)}+${fmt(lib.pgUs)} | pgbench ${fmt(pg.clientUs)}+${fmt(pg.pgUs)} | naive ${fmt(nv.clientUs)}+${fmt(nv.pgUs)}`;
        console.log(line);
        if (!hot) ratios.push({ name: `ledger (a) c=${clients} lib/pgbench`, value: lib.ops / pg.ops, target: '≥ 0.8', pass: lib.ops / pg.ops >= 0.8, detail: `${fmt(lib.ops)} vs ${fmt(pg.ops)} ops/s` });
        else ratios.push({ name: `ledger (b) c=${clients} lib/naive`, value: lib.ops / nv.ops, target: '≥ 1.5', pass: lib.ops / nv.ops >= 1.5, detail: `${fmt(lib.ops)} vs ${fmt(nv.ops)} ops/s` });
      }
    }
    // Sanity: after every run the ledger still balances for every account.
    const [row] = await db<{ bad: number }[]>`
      SELECT count(*)::int AS bad FROM user_balances b
        JOIN (SELECT user_id, SUM(amount) AS s FROM transactions GROUP BY user_id) t USING (user_id)
       WHERE b.besitos <> t.s`;
    const bad = row?.bad ?? -1;
    console.log(`  ledger invariant after the runs: ${bad === 0 ? 'holds for every account' : `${bad} accounts MISMATCH`}`);
    return ratios;
  } finally {
    await db.end();
    await rm(dir, { recursive: true, force: true });
    await bdb.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchLedger().then(
    (r) => console.log(r),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
