/**
 * The webhook's first statement (the inbox claim + the sender's state, lib/users/state.ts) on realistic
 * rows: its plan (EXPLAIN ANALYZE, BUFFERS, in a rolled-back transaction) and Postgres' CPU per
 * statement (backend /proc time over N statements for returning users), issue 18.
 *   npx tsx bench/state-plan.ts            [BENCH_USERS=20000 BENCH_N=3000]
 */
import { createDb } from '../lib/db/client.js';
import { loadavg } from 'node:os';
import { claimAndLoadUserState, loadUserState } from '../lib/users/state.js';
import { createBenchDatabase, fmt, procCpuMs } from './support.js';

const USERS = Number(process.env.BENCH_USERS ?? 20_000);
const N = Number(process.env.BENCH_N ?? 3_000);
const TZ = 'America/Mexico_City';

const bdb = await createBenchDatabase('state_plan');
let captured: { query: string; params: unknown[] } | undefined;
const db = createDb(bdb.url, { max: 1, idleTimeoutSeconds: 3600 });
const spy = createDb(bdb.url, { max: 1, onQuery: () => {} });
try {
  // Returning users with balances, a few daily claims each, and an inbox of handled updates.
  await db.unsafe(`
    INSERT INTO users (telegram_id, username, first_name, person, last_active_at)
      SELECT 5000000 + g, 'u' || g, 'User ' || g, 'person-' || g, now() FROM generate_series(1, ${USERS}) g;
    INSERT INTO user_balances (user_id, besitos, lifetime_besitos) SELECT id, 50, 50 FROM users;
    INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key)
      SELECT u.id, 10, 'grant', 'daily', 10 * d, 'daily:' || u.id || ':' || d FROM users u, generate_series(1, 4) d;
    INSERT INTO daily_claims (user_id, day, streak, transaction_id, request_key, person)
      SELECT t.user_id, current_date - 5 + d, d, t.id, t.idempotency_key, 'person-' || t.user_id
        FROM transactions t, LATERAL (SELECT split_part(t.idempotency_key, ':', 3)::int AS d) x;
    INSERT INTO telegram_updates (update_id, kind, status)
      SELECT g, 'message', 'done' FROM generate_series(1, ${USERS * 5}) g;
    ANALYZE;`);
  let updateId = USERS * 5;
  const profile = (i: number) => ({ id: 5_000_000 + 1 + (i % USERS), is_bot: false, first_name: `User ${1 + (i % USERS)}`, username: `u${1 + (i % USERS)}` });
  const claim = (sql: typeof db, id: number, fromId: number) => sql`
    INSERT INTO telegram_updates (update_id, kind, from_id, status, attempts, locked_until, payload, body_hash)
    VALUES (${id}, 'message', ${fromId}, 'processing', 1, now() + 30 * interval '1 second', ${sql.json({ update_id: id, message: { text: '/saldo' } } as never)}, ${'a'.repeat(64)})
    ON CONFLICT (update_id) DO UPDATE
       SET attempts = telegram_updates.attempts + 1, status = 'processing',
           locked_until = now() + 30 * interval '1 second', updated_at = now()
     WHERE (telegram_updates.status = 'retry'
            OR (telegram_updates.status = 'processing' AND telegram_updates.locked_until < now()))
       AND (telegram_updates.body_hash IS NULL OR telegram_updates.body_hash = EXCLUDED.body_hash)
    RETURNING attempts`;
  const opts = (id: number, i: number) => ({ timeZone: TZ, now: new Date(), person: `person-${1 + (i % USERS)}`, updateId: id });
  const one = async (sql: typeof db, i: number) => {
    const id = ++updateId;
    const p = profile(i);
    await claimAndLoadUserState(sql, claim(sql, id, p.id), p, opts(id, i));
  };

  // The statement's text, through a connection with postgres.js' debug hook.
  (spy as unknown as { options: { debug: unknown } }).options.debug = (_c: number, query: string, params: unknown[]) => (captured = { query, params });
  await one(spy, 7);
  const { query, params } = captured!;
  console.log(`statement: ${query.replace(/\s+/g, ' ').length} characters, ${params.length} parameters`);

  await db.begin(async (tx) => {
    const id = ++updateId;
    const p = profile(11);
    const ps = [...params];
    ps[0] = id; // update_id
    const plan = await tx.unsafe(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${query}`, ps as never[]);
    console.log(plan.map((r) => r['QUERY PLAN']).join('\n'));
    void p;
    await tx`ROLLBACK AND CHAIN`;
  }).catch(() => {});

  // CPU per statement of each Postgres backend, alternating slices (the machine is shared): the
  // statement as shipped, its parts alone, and under plan_cache_mode = force_generic_plan.
  const conns = {
    'claim + state': createDb(bdb.url, { max: 1, idleTimeoutSeconds: 3600 }),
    'claim + state, generic plan': createDb(bdb.url, { max: 1, idleTimeoutSeconds: 3600 }),
    'claim alone': createDb(bdb.url, { max: 1, idleTimeoutSeconds: 3600 }),
    'state alone': createDb(bdb.url, { max: 1, idleTimeoutSeconds: 3600 }),
  };
  await conns['claim + state, generic plan'].unsafe('SET plan_cache_mode = force_generic_plan');
  const run: Record<keyof typeof conns, (sql: typeof db, i: number) => Promise<unknown>> = {
    'claim + state': one,
    'claim + state, generic plan': one,
    'claim alone': (sql, i) => claim(sql, ++updateId, profile(i).id),
    'state alone': (sql, i) => loadUserState(sql, profile(i), opts(updateId, i)),
  };
  const pids = new Map<string, number>();
  for (const [name, sql] of Object.entries(conns)) pids.set(name, Number((await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid));
  const cpu = new Map<string, number[]>();
  const SLICE = 250;
  for (let round = 0; round < Math.ceil(N / SLICE) + 1; round++) {
    const names = Object.keys(conns) as (keyof typeof conns)[];
    for (const name of round % 2 ? names.reverse() : names) {
      const c0 = procCpuMs(pids.get(name)!)!;
      for (let i = 0; i < SLICE; i++) await run[name](conns[name], round * SLICE + i * 7);
      if (round > 0) cpu.set(name, [...(cpu.get(name) ?? []), (procCpuMs(pids.get(name)!)! - c0) / SLICE]);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [name, xs] of cpu) console.log(`  ${name.padEnd(30)} Postgres CPU per statement: median ${fmt(med(xs), 3)} ms (slices ${xs.map((x) => fmt(x, 2)).join(' ')})`);
  console.log(`  ${USERS} users, slices of ${SLICE}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const sql of Object.values(conns)) await sql.end();
} finally {
  await db.end();
  await spy.end();
  await bdb.drop();
}
