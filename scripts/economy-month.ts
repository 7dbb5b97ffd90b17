// npm run economy:month — a simulated month of economy in a database, for the dashboard (/economia,
// /api/admin/economy): users, daily gifts, trivia, story, missions, shop, gifts between users, a trivia
// farmer and two impossible rows; then the anomaly detector runs and the chart is saved as a PNG.
//
//   npm run economy:month [-- --users 1000 --days 30 --seed 42 --png docs/economy-month.png --force]
//
// Without DATABASE_URL it writes into the embedded PostgreSQL of `npm run dev` (.data/postgres; stop
// `npm run dev` first), so the chat page shows the month: start `ADMIN_USER_IDS=<id> npm run dev` and
// send /economia. With DATABASE_URL it refuses a database that already has users unless --force: the
// simulation is never meant to be mixed into real data.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getConfig } from '../lib/config.js';
import { createDb } from '../lib/db/client.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../lib/db/embedded.js';
import { migrate } from '../lib/db/migrate.js';
import { runAnomalyDetection } from '../lib/economy/anomalies.js';
import { economyDashboard } from '../lib/economy/dashboard.js';
import { simulateEconomy } from '../lib/economy/simulate.js';
import { sourceName } from '../lib/economy/texts.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000' },
    days: { type: 'string', default: '30' },
    seed: { type: 'string', default: '42' },
    png: { type: 'string', default: 'docs/economy-month.png' },
    json: { type: 'string' },
    force: { type: 'boolean', default: false },
  },
});
const users = Number(values.users);
const days = Number(values.days);
const seed = Number(values.seed);
if (!Number.isInteger(users) || users < 20 || users > 100_000 || !Number.isInteger(days) || days < 2 || days > 366 || !Number.isInteger(seed)) {
  console.error('Uso: npm run economy:month -- [--users 20..100000] [--days 2..366] [--seed N] [--png archivo] [--json archivo] [--force]');
  process.exit(2);
}

const config = getConfig();
let embedded: EmbeddedPostgresHandle | undefined;
let url = config.DATABASE_URL;
if (!url) {
  embedded = await startEmbeddedPostgres({ dir: path.resolve('.data', 'postgres'), persistent: true });
  url = embedded.url;
}
const db = createDb(url, { max: 4 });
try {
  await migrate(db);
  const [{ n }] = (await db`SELECT count(*)::int AS n FROM users`) as unknown as [{ n: number }];
  if (n > 0 && config.DATABASE_URL && !values.force) {
    console.error(`La base de datos ya tiene ${n} usuarios: no mezclo una simulación con datos reales. Usa una base vacía, o --force si es de pruebas.`);
    process.exitCode = 1;
  } else {
    const now = new Date();
    const t0 = performance.now();
    const sim = await simulateEconomy(db, { users, days, now, timeZone: config.timeZone, seed, farmer: true, impossible: true, runId: `month${seed}-${now.getTime()}` });
    // Fresh bulk rows: give the planner their statistics now rather than at autovacuum's next pass.
    await db`ANALYZE users, user_balances, transactions, actions, daily_claims, user_missions`;
    const t1 = performance.now();
    const detection = await runAnomalyDetection(db, { now, timeZone: config.timeZone });
    const t2 = performance.now();
    const dashboard = await economyDashboard(db, { now, timeZone: config.timeZone, days });
    const t3 = performance.now();
    const { dashboardPng } = await import('../lib/economy/chart.js');
    const png = await dashboardPng(dashboard, `Economía de besitos — mes simulado (${users.toLocaleString('es-MX')} usuarios)`);
    const t4 = performance.now();
    await mkdir(path.dirname(path.resolve(values.png!)), { recursive: true });
    await writeFile(values.png!, png);
    if (values.json) await writeFile(values.json, JSON.stringify(dashboard, null, 2));

    const ms = (a: number, b: number) => `${Math.round(b - a)} ms`;
    console.log(`Simulación: ${users} usuarios, ${days} días, ${sim.transactions.toLocaleString('es-MX')} movimientos (${ms(t0, t1)})`);
    console.log(`Ganados ${sim.earned.toLocaleString('es-MX')} · gastados ${sim.spent.toLocaleString('es-MX')} · en circulación ${dashboard.supply.now.toLocaleString('es-MX')}`);
    for (const s of dashboard.earned) console.log(`  + ${sourceName(s.source).padEnd(24)} ${s.total.toLocaleString('es-MX').padStart(10)}`);
    for (const s of dashboard.spent) console.log(`  − ${sourceName(s.source).padEnd(24)} ${s.total.toLocaleString('es-MX').padStart(10)}`);
    console.log(`Regalado entre usuarios: ${dashboard.transferred.total.toLocaleString('es-MX')}`);
    console.log(`Anomalías (${ms(t1, t2)}): ${detection.flags.length} alertas en ${detection.population} usuarios comparados, ${detection.created.length} nuevas`);
    const who = (id: number) => (id === sim.farmerId ? 'granjero' : id === sim.overCapId ? 'doble regalo' : id === sim.unmatchedId ? 'misiones fantasma' : `usuario normal #${id}`);
    for (const f of detection.flags) console.log(`  ${f.kind.padEnd(9)} ${f.source.padEnd(8)} ${who(f.userId).padEnd(18)} ${f.amount} besitos${f.score !== null ? ` (puntuación ${f.score})` : ''}`);
    const normals = detection.flags.filter((f) => ![sim.farmerId, sim.overCapId, sim.unmatchedId].includes(f.userId)).length;
    console.log(`Usuarios normales marcados: ${normals}`);
    console.log(`Panel ${ms(t2, t3)}, gráfica ${ms(t3, t4)} → ${values.png}${values.json ? ` y ${values.json}` : ''}`);
  }
} finally {
  await db.end({ timeout: 5 });
  await embedded?.stop();
}
