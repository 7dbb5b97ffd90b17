/**
 * The hourly anomaly job (lib/economy/anomalies.ts detectAnomalies: per-source and overall outliers,
 * day and week caps of every capped source, grants no action explains) over a simulated population of
 * 1,000 and 10,000 users (lib/economy/simulate.ts, 8 days), against a baseline in the same run: one plain
 * aggregate over the same rows (the window's grants and gifts received, summed per user and source — the
 * least any detector must read). Detection and baseline alternate REPS times; each figure is the median.
 * Reported, no target: the job runs once an hour, so what matters is that it stays a small multiple of
 * one scan of the window as the population grows.
 */
import { createDb, type Sql } from '../lib/db/client.js';
import { detectAnomalies } from '../lib/economy/anomalies.js';
import { simulateEconomy } from '../lib/economy/simulate.js';
import { createBenchDatabase, fmt, QUICK, type Ratio } from './support.js';

const POPULATIONS = [1_000, 10_000];
const DAYS = 8;
const REPS = QUICK ? 3 : 7;
const TZ = 'America/Mexico_City';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function baseline(db: Sql, start: Date, end: Date) {
  return db`
    SELECT user_id, split_part(source, ':', 1) AS source, sum(amount)::bigint AS besitos, count(*)::int AS grants
      FROM transactions
     WHERE created_at >= ${start} AND created_at < ${end} AND type IN ('grant', 'transfer_in')
     GROUP BY 1, 2`;
}

async function population(users: number): Promise<Ratio> {
  const bdb = await createBenchDatabase(`anomalies${users}`);
  const db = createDb(bdb.url, { max: 2 });
  try {
    const now = new Date();
    const sim = await simulateEconomy(db, { users, days: DAYS, now, timeZone: TZ, seed: 11, farmer: true, impossible: true });
    await db`VACUUM ANALYZE`;
    const start = new Date(now.getTime() - 7 * 86_400_000);
    const detect: number[] = [];
    const base: number[] = [];
    let flags = 0;
    await baseline(db, start, now); // warm the cache and the plans for both
    await detectAnomalies(db, { now, timeZone: TZ });
    for (let rep = 0; rep < REPS; rep++) {
      base.push(await timed(() => baseline(db, start, now)));
      detect.push(
        await timed(async () => {
          flags = (await detectAnomalies(db, { now, timeZone: TZ })).flags.length;
        }),
      );
    }
    const ratio = median(detect) / median(base);
    const perRep = detect.map((d, i) => d / base[i]!).sort((a, b) => a - b);
    console.log(
      `  ${fmt(users).padStart(6)} users, ${fmt(sim.transactions)} transactions: detection ${fmt(median(detect))} ms, ` +
        `plain aggregate ${fmt(median(base))} ms → ${fmt(ratio, 1)}× (per rep ${fmt(perRep[0]!, 1)}–${fmt(perRep[perRep.length - 1]!, 1)}×), ${flags} flags`,
    );
    return { name: `anomaly job / plain aggregate, ${fmt(users)} users`, value: ratio, target: 'reported', pass: true, detail: `${fmt(median(detect))} vs ${fmt(median(base))} ms, ${flags} flags` };
  } finally {
    await db.end();
    await bdb.drop();
  }
}

export async function benchAnomalies(): Promise<Ratio[]> {
  console.log(`\n== Anomaly job vs one plain aggregate over the same rows (${DAYS} simulated days, 7-day window, median of ${REPS}) ==`);
  const out: Ratio[] = [];
  for (const n of POPULATIONS) out.push(await population(n));
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchAnomalies().then(
    (r) => console.log(r),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
