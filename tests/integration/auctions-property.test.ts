import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InsufficientFunds } from '../../lib/besitos/errors.js';
import { holdMismatches } from '../../lib/besitos/holds.js';
import { spendBesitos } from '../../lib/besitos/ledger.js';
import { runCommand } from '../../lib/commands/index.js';
import { withTransaction } from '../../lib/db/transaction.js';
import {
  AuctionRefused,
  bidCommand,
  createAuctionCommand,
  decideBid,
  endAuction,
  findAuction,
  nextMinimum,
  taxOf,
} from '../../lib/gamification/auctions/index.js';
import '../../lib/gamification/auctions/jobs.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(30);
const T0 = new Date('2026-11-26T12:00:00Z');
let seq = 0;

async function newAuction(admin: number, minBid: number, increment: number) {
  const r = await runCommand(db, createAuctionCommand, {
    userId: admin,
    idempotencyKey: `prop:create:${++seq}:${Date.now()}`,
    params: { itemKey: 'velo-de-diana', itemName: 'Velo de Diana', minBid, increment, startsAt: T0.toISOString(), endsAt: new Date(T0.getTime() + 3600_000).toISOString() },
    now: T0,
  });
  return (r.result as { auctionId: number }).auctionId;
}

const bid = (userId: number, auctionId: number, amount: number, at: Date) =>
  runCommand(db, bidCommand, {
    userId,
    idempotencyKey: `prop:bid:${++seq}:${Date.now()}:${Math.random()}`,
    params: { auctionId, amount },
    now: at,
    isUserError: (e) => e instanceof AuctionRefused || e instanceof InsufficientFunds,
  }).then(
    () => 'ok' as const,
    (e) => {
      if (e instanceof AuctionRefused || e instanceof InsufficientFunds) return 'refused' as const;
      throw e;
    },
  );

describe('auction invariants over random bid sequences (fast-check, real Postgres)', () => {
  it('one pending hold per user and auction, leader = highest accepted bid, Σ balances + burned = initial', async () => {
    const admin = await userWithBesitos(db, 0);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 2, maxLength: 5 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('bid' as const), who: fc.nat(), amount: fc.integer({ min: 1, max: 450 }), concurrent: fc.boolean() }),
            fc.record({ kind: fc.constant('spend' as const), who: fc.nat(), amount: fc.integer({ min: 1, max: 100 }), concurrent: fc.boolean() }),
          ),
          { minLength: 1, maxLength: 25 },
        ),
        async (wallets, minBid, increment, ops) => {
          const users = await Promise.all(wallets.map((w) => userWithBesitos(db, w)));
          const initial = wallets.reduce((a, b) => a + b, 0);
          const auction = await newAuction(admin, minBid, increment);
          let accepted: { user: number; amount: number }[] = [];
          let spent = 0;
          // Ops marked concurrent run together with the next one (real parallel connections).
          for (let i = 0; i < ops.length; i++) {
            const batch = [ops[i]!];
            while (ops[i]!.concurrent && i + 1 < ops.length && batch.length < 4) batch.push(ops[++i]!);
            const at = new Date(T0.getTime() + 60_000 + i * 1000);
            const results = await Promise.all(
              batch.map(async (op) => {
                const user = users[op.who % users.length]!;
                if (op.kind === 'bid') return { op, user, r: await bid(user, auction, op.amount, at) };
                const r = await spendBesitos(db, { userId: user, amount: op.amount, source: 'shop', idempotencyKey: `prop:spend:${++seq}:${Date.now()}` }).then(
                  () => 'ok' as const,
                  (e) => {
                    if (e instanceof InsufficientFunds) return 'refused' as const;
                    throw e;
                  },
                );
                return { op, user, r };
              }),
            );
            for (const x of results) {
              if (x.r !== 'ok') continue;
              if (x.op.kind === 'bid') accepted.push({ user: x.user, amount: x.op.amount });
              else spent += x.op.amount;
            }
            // At every step: at most one pending hold per user for this auction, held = Σ pending holds.
            const [dup] = await db<{ n: number }[]>`
              SELECT count(*)::int AS n FROM (SELECT user_id FROM besitos_holds WHERE reference = ${`auction:${auction}`} AND status = 'pending'
                                              GROUP BY user_id HAVING count(*) > 1) d`;
            expect(dup!.n).toBe(0);
            expect(await holdMismatches(db, users)).toEqual([]);
          }
          const a = (await findAuction(db, auction))!;
          const max = accepted.reduce<{ user: number; amount: number } | null>((m, b) => (!m || b.amount > m.amount ? b : m), null);
          expect(a.leaderBid).toBe(max?.amount ?? null);
          expect(a.leaderId).toBe(max?.user ?? null);
          // Only the leader holds anything for this auction.
          const pending = await db<{ user_id: number; amount: number }[]>`
            SELECT user_id, amount::int FROM besitos_holds WHERE reference = ${`auction:${auction}`} AND status = 'pending'`;
          expect(pending.map((p) => [Number(p.user_id), p.amount])).toEqual(max ? [[max.user, max.amount]] : []);

          const end = await withTransaction(db, (tx) => endAuction(tx, auction, new Date(T0.getTime() + 2 * 3600_000)));
          expect(end.status).toBe(max ? 'won' : 'no_winner');
          const again = await withTransaction(db, (tx) => endAuction(tx, auction, new Date(T0.getTime() + 3 * 3600_000)));
          expect(again.status).toBe('already');
          const [sum] = await db<{ balances: number; burned: number; tax: number }[]>`
            SELECT (SELECT COALESCE(sum(besitos), 0)::int FROM user_balances WHERE user_id IN ${db(users)}) AS balances,
                   (SELECT COALESCE(-sum(amount), 0)::int FROM transactions WHERE user_id IN ${db(users)} AND source IN ('auction', 'tax')) AS burned,
                   (SELECT COALESCE(-sum(amount), 0)::int FROM transactions WHERE user_id IN ${db(users)} AND type = 'tax') AS tax`;
          expect(sum!.balances + sum!.burned + spent).toBe(initial);
          expect(sum!.burned).toBe(max?.amount ?? 0);
          expect(sum!.tax).toBe(max ? taxOf(max.amount) : 0);
          expect(await ledgerMismatches(db, users)).toEqual([]);
          expect(await holdMismatches(db, users)).toEqual([]);
          const [held] = await db<{ n: number }[]>`SELECT COALESCE(sum(held), 0)::int AS n FROM user_balances WHERE user_id IN ${db(users)}`;
          expect(held!.n).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('the pure rule agrees: a bid is accepted only from the next minimum, never at the leader’s amount', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 10 }), fc.option(fc.integer({ min: 1, max: 500 }), { nil: null }), fc.integer({ min: 1, max: 600 }), (minBid, increment, leaderBid, amount) => {
        const a = { status: 'open' as const, startsAt: T0, endsAt: new Date(T0.getTime() + 3600_000), minBid, increment, leaderId: leaderBid === null ? null : 1, leaderBid };
        const d = decideBid(a, 2, amount, new Date(T0.getTime() + 1000));
        expect(d.ok).toBe(amount >= nextMinimum(a) && amount !== leaderBid);
      }),
    );
  });
});
