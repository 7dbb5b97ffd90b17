/**
 * Auctions (issue 23): bids/s on ONE hot auction against spends/s on ONE hot user, measured in the same
 * run on the same database, interleaved (REPS rounds, best of each side).
 *
 *  - bids: the `auction.bid` command (lib/gamification/auctions) as the webhook runs it — action row,
 *    the auction's row lock, the bidder's hold placed, the previous leader's released, bid rows, the
 *    outbid notice job — by WORKERS connections, each a different bidder, amounts from a shared
 *    counter (a bid that lost the race to a higher one is refused: counted apart, it did the work too);
 *  - spends: spendBesitos (lib/besitos/ledger.ts, one guarded statement) of 1 besito on one user by the
 *    same number of connections: the ledger's own hot-row line (BENCHMARKS.md §1 b).
 *
 * Both serialise on one row (the auction's, the user's balance); the ratio says what a bid's
 * transaction costs over a single-statement spend. `npm run bench:auctions` (BENCH_QUICK=1 shorter).
 */
import { createDb, type Sql } from '../lib/db/client.js';
import { spendBesitos } from '../lib/besitos/ledger.js';
import { runCommand } from '../lib/commands/index.js';
import { AuctionRefused, bidCommand, createAuctionCommand } from '../lib/gamification/auctions/index.js';
import { closedLoop, createBenchDatabase, fmt, machine, QUICK } from './support.js';

const WORKERS = Number(process.env.BENCH_WORKERS ?? 16);
const SECONDS = QUICK ? 3 : 6;
const REPS = QUICK ? 1 : 3;
const START = 100_000_000;

async function seed(db: Sql): Promise<{ bidders: number[]; hot: number; admin: number }> {
  await db`INSERT INTO users (telegram_id, first_name) SELECT g, 'Bench' FROM generate_series(1, ${WORKERS + 2}) g`;
  await db`INSERT INTO user_balances (user_id, besitos, lifetime_besitos) SELECT id, ${START}, ${START} FROM users`;
  await db`INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key)
           SELECT id, ${START}, 'grant', 'admin', ${START}, 'seed:' || id FROM users`;
  await db`VACUUM ANALYZE`;
  const ids = (await db<{ id: number }[]>`SELECT id FROM users ORDER BY id`).map((r) => Number(r.id));
  return { admin: ids[0]!, hot: ids[1]!, bidders: ids.slice(2) };
}

async function main() {
  console.log(`# Auctions: hot auction vs hot user — ${new Date().toISOString()}\n${machine()}`);
  console.log(`${WORKERS} connections each side, ${SECONDS} s per run, ${REPS} interleaved rounds (best of each)\n`);
  const bench = await createBenchDatabase('auctions');
  const db = createDb(bench.url, { max: WORKERS + 2 });
  try {
    const { admin, hot, bidders } = await seed(db);
    const now = new Date();
    let seq = 0;
    let best = { bids: 0, refused: 0, spends: 0 };
    for (let rep = 0; rep < REPS; rep++) {
      const created = await runCommand(db, createAuctionCommand, {
        userId: admin,
        idempotencyKey: `bench:create:${rep}`,
        params: { itemKey: 'velo-de-diana', itemName: 'Velo de Diana', minBid: 1, increment: 1, startsAt: now.toISOString(), endsAt: new Date(now.getTime() + 86_400_000).toISOString() },
        now,
      });
      const auctionId = (created.result as { auctionId: number }).auctionId;
      let amount = 0;
      let refused = 0;
      const bids = await closedLoop(WORKERS, SECONDS, async (w) => {
        try {
          await runCommand(db, bidCommand, { userId: bidders[w]!, idempotencyKey: `bench:bid:${++seq}`, params: { auctionId, amount: ++amount }, now: new Date() });
        } catch (err) {
          if (err instanceof AuctionRefused) refused++;
          else throw err;
        }
      });
      const spends = await closedLoop(WORKERS, SECONDS, async () => {
        await spendBesitos(db, { userId: hot, amount: 1, source: 'shop', idempotencyKey: `bench:spend:${++seq}` });
      });
      const bidRate = (bids.done - refused) / bids.elapsed;
      const tried = bids.done / bids.elapsed;
      console.log(
        `round ${rep + 1}: bids ${fmt(bidRate)}/s accepted (${fmt(tried)}/s tried, ${fmt(refused)} refused as outbid), ` +
          `spends ${fmt(spends.perSecond)}/s, errors ${bids.errors}/${spends.errors}`,
      );
      if (bidRate > best.bids) best = { ...best, bids: bidRate, refused };
      if (spends.perSecond > best.spends) best.spends = spends.perSecond;
    }
    const [inv] = await db<{ held_ok: boolean; ledger_ok: boolean }[]>`
      SELECT NOT EXISTS (SELECT 1 FROM user_balances b WHERE b.held <> COALESCE((SELECT sum(amount) FROM besitos_holds h WHERE h.user_id = b.user_id AND status = 'pending'), 0)) AS held_ok,
             NOT EXISTS (SELECT 1 FROM user_balances b WHERE b.besitos <> (SELECT sum(amount) FROM transactions t WHERE t.user_id = b.user_id)) AS ledger_ok`;
    console.log(`\nbest: ${fmt(best.bids)} bids/s on one auction, ${fmt(best.spends)} spends/s on one user`);
    console.log(`hot auction / hot user: ${fmt(best.bids / best.spends, 2)}×`);
    console.log(`invariants after the run: held = Σ pending holds ${inv!.held_ok ? 'ok' : 'BROKEN'}, balance = Σ transactions ${inv!.ledger_ok ? 'ok' : 'BROKEN'}`);
  } finally {
    await db.end({ timeout: 5 });
    await bench.drop();
  }
}

await main();
