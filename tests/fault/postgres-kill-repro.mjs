// Standalone reproduction (not part of npm test) of the postgres.js 3.4.9 behaviour under
// pg_terminate_backend that tests/fault/db-kill.test.ts runs into:
//   node tests/fault/postgres-kill-repro.mjs            (DATABASE_URL or postgres://postgres@127.0.0.1:5432/test)
// With the released driver the process dies: TypeError "Cannot read properties of null (reading 'write')"
// from nextWrite (porsager/postgres#1208). With only that guard, some queries never settle (closed() does
// not reject queries when the socket closed with an error, and a cleared-but-not-nulled nextWriteTimer
// stops a reused connection from ever flushing small writes), and a kill during a new connection's type
// fetch is an unhandled rejection (57P01). patches/postgres+3.4.9.patch (applied at install by patch-package) fixes all three:
// 0 hung queries and no unhandled rejection in repeated runs (queries can wait up to ~20 s for the
// pool's reconnect backoff; raise the grace below to see them all settle).
import postgres from 'postgres';
const name = 'hangrepro_' + process.pid;
const sql = postgres(`${process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'}?application_name=${name}`, { max: 10, onnotice: () => {} });
const admin = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { max: 1 });
process.on('unhandledRejection', (e) => console.log('UNHANDLED', e.code, e.message));
let stop = false, kills = 0, ok = 0, failed = 0;
const pending = new Map(); let seq = 0;
const killer = (async () => { while (!stop) { const r = await admin`SELECT pid FROM pg_stat_activity WHERE application_name = ${name} AND state <> 'idle' ORDER BY random() LIMIT 1`; if (r[0]) { await admin`SELECT pg_terminate_backend(${r[0].pid})`; kills++; } await new Promise(r => setTimeout(r, 3 + Math.random() * 10)); } })();
const kinds = {
  plain: () => sql`SELECT pg_sleep(0.001), 1`,
  json: () => sql`INSERT INTO pg_temp_dummy VALUES (1)`.catch(() => sql`SELECT ${sql.json({ a: 'x'.repeat(2000) })}::jsonb`),
  tx: () => sql.begin(async (tx) => { await tx`SELECT 1`; await tx`SELECT pg_sleep(0.002)`; await tx`SELECT 2`; }),
};
const worker = async () => { while (!stop) { const id = ++seq; const r = Math.random(); const kind = r < 0.4 ? 'plain' : r < 0.6 ? 'json' : 'tx'; pending.set(id, { kind, at: Date.now() }); try { await kinds[kind](); ok++; } catch { failed++; } pending.delete(id); } };
const workers = Array.from({ length: 48 }, worker);
await new Promise(r => setTimeout(r, 8000));
stop = true; await killer;
await new Promise(r => setTimeout(r, 5000));
const hung = [...pending.values()];
console.log({ kills, ok, failed, hung: hung.length, kinds: hung.map(h => h.kind) });
process.exit(0);
