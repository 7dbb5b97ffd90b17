import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getBalance, grantBesitos, reverseTransaction, spendBesitos, transferBesitos } from '../../lib/besitos/ledger.js';
import { AlreadyReversed, InsufficientFunds, ReversalNotPossible } from '../../lib/besitos/errors.js';
import { MIGRATIONS_DIR } from '../../lib/db/migrate.js';
import { useTestDb } from '../support/db.js';
import { userWithBesitos } from '../support/ledger.js';

const db = useTestDb(20);

/** Lifetime as the ledger says it: grants from sources, minus the reversals of grants. */
const earnedFromSources = async (userId: number) =>
  Number(
    (
      await db<{ s: number }[]>`
        SELECT COALESCE(sum(t.amount), 0)::bigint AS s FROM transactions t LEFT JOIN transactions o ON o.id = t.reverses
         WHERE t.user_id = ${userId} AND (t.type = 'grant' OR (t.type = 'reversal' AND o.type = 'grant'))`
    )[0]!.s,
  );

describe('lifetime besitos count what was earned, not what was passed around', () => {
  it('property: after random grants, gifts (concurrent), spends and undos, lifetime = Σ source grants − undone grants', async () => {
    let run = 0;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('grant' as const), u: fc.nat(2), amount: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ kind: fc.constant('gift' as const), u: fc.nat(2), v: fc.nat(2), amount: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('spend' as const), u: fc.nat(2), amount: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('undo' as const), pick: fc.nat(100) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), async (ops) => {
        const r = ++run;
        const users = await Promise.all([0, 1, 2].map(() => userWithBesitos(db, 0)));
        const expected = new Map(users.map((u) => [u, 0]));
        const moves: { id: number; grantTo: number | null; amount: number }[] = [];
        const tolerate = (e: unknown) => {
          if (!(e instanceof InsufficientFunds || e instanceof ReversalNotPossible || e instanceof AlreadyReversed)) throw e;
        };
        // In pairs, so that gifts and undos also race.
        for (let i = 0; i < ops.length; i += 2) {
          await Promise.all(
            ops.slice(i, i + 2).map(async (o, j) => {
              const key = `lt:${r}:${i + j}`;
              try {
                if (o.kind === 'grant') {
                  const g = await grantBesitos(db, { userId: users[o.u]!, amount: o.amount, source: 'admin', idempotencyKey: key });
                  expected.set(users[o.u]!, expected.get(users[o.u]!)! + o.amount);
                  moves.push({ id: g.entry.id, grantTo: users[o.u]!, amount: o.amount });
                } else if (o.kind === 'gift' && o.u !== o.v) {
                  const t = await transferBesitos(db, { fromUserId: users[o.u]!, toUserId: users[o.v]!, amount: o.amount, source: 'gift', idempotencyKey: key });
                  moves.push({ id: t.debit.id, grantTo: null, amount: o.amount });
                } else if (o.kind === 'spend') {
                  await spendBesitos(db, { userId: users[o.u]!, amount: o.amount, source: 'shop', idempotencyKey: key });
                } else if (o.kind === 'undo' && moves.length > 0) {
                  const m = moves[o.pick % moves.length]!;
                  const rev = await reverseTransaction(db, { transactionId: m.id, idempotencyKey: `${key}:undo:${m.id}` });
                  if (!rev.replayed && m.grantTo !== null) expected.set(m.grantTo, expected.get(m.grantTo)! - m.amount);
                }
              } catch (e) {
                tolerate(e);
              }
            }),
          );
        }
        for (const u of users) {
          const lifetime = (await getBalance(db, u)).lifetimeBesitos;
          expect(lifetime).toBe(expected.get(u));
          expect(lifetime).toBe(await earnedFromSources(u));
        }
      }),
      { numRuns: 25, seed: 16 },
    );
  });

  it('two users passing 10 besitos back and forth 20 times: neither lifetime moves', async () => {
    const [a, b] = await Promise.all([userWithBesitos(db, 10), userWithBesitos(db, 0)]);
    for (let i = 0; i < 20; i++) {
      await transferBesitos(db, { fromUserId: i % 2 ? b : a, toUserId: i % 2 ? a : b, amount: 10, source: 'gift', idempotencyKey: `pp:${a}:${i}` });
    }
    expect(await getBalance(db, a)).toEqual({ besitos: 10, lifetimeBesitos: 10, held: 0 });
    expect(await getBalance(db, b)).toEqual({ besitos: 0, lifetimeBesitos: 0, held: 0 });
  });

  it('migration 032 recomputes existing rows from the ledger (gifts received no longer count)', async () => {
    const [a, b] = await Promise.all([userWithBesitos(db, 30), userWithBesitos(db, 5)]);
    await transferBesitos(db, { fromUserId: a, toUserId: b, amount: 20, source: 'gift', idempotencyKey: `mig:${a}` });
    // What the old code wrote: the gift counted in b's lifetime.
    await db`UPDATE user_balances SET lifetime_besitos = 25 WHERE user_id = ${b}`;
    await db.unsafe(await readFile(`${MIGRATIONS_DIR}032_lifetime_from_sources.sql`, 'utf8'));
    expect((await getBalance(db, b)).lifetimeBesitos).toBe(5);
    expect((await getBalance(db, a)).lifetimeBesitos).toBe(30);
  });
});
