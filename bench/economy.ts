/**
 * Economy safeguards (issue 23): what caps and expiring lots cost the ledger's hot paths.
 *
 * Through lib/besitos at 8 connections over 10,000 users, interleaved in the same run (best of REPS):
 *  - plain grant (source 'admin': no cap, no lot) — the baseline;
 *  - capped grant (source 'story': day cap 300 besitos, counted in the grant's own statement);
 *  - first-time grant (source 'achievement' with `firstTime`: the person's claim in person_rewards too);
 *  - bonus grant (source 'event': opens a lot and schedules its expiry and warning, one transaction);
 *  - spend by a user without lots (one statement) — the spend baseline;
 *  - spend by a user holding lots (takes soonest-expiring lots first, in a transaction).
 * Target: capped grant ≥ 0.7× plain grant; the others are reported.
 */
import { createDb, type Sql } from '../lib/db/client.js';
import { grantBesitos, spendBesitos } from '../lib/besitos/ledger.js';
import { closedLoop, createBenchDatabase, fmt, QUICK, type Ratio } from './support.js';

const USERS = 10_000;
const WITH_LOTS = 2_000; // users 1..2,000 hold bonus lots; the others don't
const SECONDS = QUICK ? 3 : 5;
const REPS = QUICK ? 1 : 2;
const CLIENTS = 8;
const START = 1_000_000;
const now = new Date('2026-11-26T18:00:00Z');

async function seed(db: Sql) {
  // Each with an abuse pseudonym, as the webhook writes it (sql/190): caps count per person.
  await db`INSERT INTO users (telegram_id, first_name, person) SELECT g, 'Bench', 'bench-person-' || g FROM generate_series(1, ${USERS}) g`;
  await db`INSERT INTO user_balances (user_id, besitos, lifetime_besitos) SELECT id, ${START}, ${START} FROM users`;
  await db`INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key)
           SELECT id, ${START}, 'grant', 'admin', ${START}, 'seed:' || id FROM users`;
  // Lots for the first users: two bonus grants each, through the ledger (lots, jobs and all).
  const users = Array.from({ length: WITH_LOTS }, (_, i) => i + 1);
  for (let r = 0; r < 2; r++)
    for (let i = 0; i < users.length; i += 50)
      await Promise.all(
        users.slice(i, i + 50).map((u) =>
          grantBesitos(db, { userId: u, amount: 50_000, source: 'event', idempotencyKey: `seedlot:${r}:${u}`, now: new Date(now.getTime() + r * 86_400_000) }),
        ),
      );
  await db`VACUUM ANALYZE`;
}

type Op = (db: Sql, w: number, i: number, tag: string) => Promise<unknown>;

const randomUser = (from: number, to: number) => from + Math.floor(Math.random() * (to - from + 1));

const ops: Record<string, Op> = {
  'plain grant': (db, w, i, tag) => grantBesitos(db, { userId: randomUser(1, USERS), amount: 1, source: 'admin', idempotencyKey: `pg:${tag}:${w}:${i}` }),
  'capped grant': (db, w, i, tag) => grantBesitos(db, { userId: randomUser(1, USERS), amount: 1, source: 'story', idempotencyKey: `cg:${tag}:${w}:${i}`, now }),
  // A first-time reward (an achievement's): also claims (person, reward) in person_rewards, same statement.
  'first-time grant': (db, w, i, tag) =>
    grantBesitos(db, { userId: randomUser(1, USERS), amount: 1, source: 'achievement', idempotencyKey: `fg:${tag}:${w}:${i}`, firstTime: `achievement:bench:${tag}:${w}:${i}`, now }),
  'bonus grant': (db, w, i, tag) => grantBesitos(db, { userId: randomUser(WITH_LOTS + 1, USERS), amount: 1, source: 'event', idempotencyKey: `bg:${tag}:${w}:${i}`, now }),
  'plain spend': (db, w, i, tag) => spendBesitos(db, { userId: randomUser(WITH_LOTS + 1, USERS), amount: 1, source: 'shop', idempotencyKey: `ps:${tag}:${w}:${i}` }),
  'spend from lots': (db, w, i, tag) => spendBesitos(db, { userId: randomUser(1, WITH_LOTS), amount: 1, source: 'shop', idempotencyKey: `ls:${tag}:${w}:${i}` }),
};

async function run(url: string, name: string, op: Op, tag: string): Promise<number> {
  const db = createDb(url, { max: CLIENTS });
  await db`SELECT 1`;
  const r = await closedLoop(CLIENTS, SECONDS, (w, i) => op(db, w, i, tag).then(() => undefined));
  await db.end();
  if (r.errors) console.log(`  [${name}] ${r.errors} errors`);
  return r.perSecond;
}

export async function benchEconomy(): Promise<Ratio[]> {
  console.log(`\n== Economy: caps and expiring lots vs the plain ledger (c=${CLIENTS}, ${SECONDS} s per run, best of ${REPS} interleaved) ==`);
  const bdb = await createBenchDatabase('economy');
  const db = createDb(bdb.url, { max: CLIENTS + 1 });
  try {
    await seed(db);
    const best: Record<string, number> = {};
    // The bonus grant runs last in each round: the lots it opens go to users the spends don't pick.
    for (let rep = 0; rep < REPS; rep++)
      for (const [name, op] of Object.entries(ops)) best[name] = Math.max(best[name] ?? 0, await run(bdb.url, name, op, `r${rep}`));
    for (const [name, v] of Object.entries(best)) console.log(`  ${name.padEnd(16)} ${fmt(v).padStart(7)} ops/s`);
    const capped = best['capped grant']! / best['plain grant']!;
    const bonus = best['bonus grant']! / best['plain grant']!;
    const first = best['first-time grant']! / best['plain grant']!;
    const lots = best['spend from lots']! / best['plain spend']!;
    console.log(`  capped/plain grant ${fmt(capped, 2)}× | first-time/plain grant ${fmt(first, 2)}× | bonus/plain grant ${fmt(bonus, 2)}× | spend from lots/plain spend ${fmt(lots, 2)}×`);
    const [bad] = await db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM user_balances b
        LEFT JOIN (SELECT user_id, sum(amount) AS s FROM transactions GROUP BY user_id) t USING (user_id)
        LEFT JOIN (SELECT user_id, sum(remaining) AS l FROM besitos_lots GROUP BY user_id) l USING (user_id)
       WHERE b.besitos <> COALESCE(t.s, 0) OR b.bonus_besitos <> COALESCE(l.l, 0) OR b.bonus_besitos > b.besitos`;
    console.log(`  invariants after the runs (balance = Σ transactions, bonus = Σ open lots): ${bad?.n === 0 ? 'hold for every account' : `${bad?.n} accounts MISMATCH`}`);
    return [
      { name: 'economy capped grant / plain grant', value: capped, target: '≥ 0.7', pass: capped >= 0.7, detail: `${fmt(best['capped grant']!)} vs ${fmt(best['plain grant']!)} ops/s` },
      { name: 'economy first-time grant / plain grant', value: first, target: 'reported', pass: true, detail: `${fmt(best['first-time grant']!)} vs ${fmt(best['plain grant']!)} ops/s` },
      { name: 'economy bonus grant / plain grant', value: bonus, target: 'reported', pass: true, detail: `${fmt(best['bonus grant']!)} vs ${fmt(best['plain grant']!)} ops/s` },
      { name: 'economy spend from lots / plain spend', value: lots, target: 'reported', pass: true, detail: `${fmt(best['spend from lots']!)} vs ${fmt(best['plain spend']!)} ops/s` },
    ];
  } finally {
    await db.end();
    await bdb.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchEconomy().then(
    (r) => console.log(r),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
