import { describe, expect, it } from 'vitest';
import { getBalance, grantBesitos, reverseTransaction, spendBesitos, transferBesitos } from '../../lib/besitos/ledger.js';
import { holdMismatches, moveHold, placeHold, postHold, pendingHolds, voidHold, voidHoldsOf } from '../../lib/besitos/holds.js';
import { HoldNotPending, IdempotencyConflict, InsufficientFunds, ReversalNotPossible } from '../../lib/besitos/errors.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(40);

async function invariants(ids: number[]) {
  expect(await ledgerMismatches(db, ids)).toEqual([]);
  expect(await holdMismatches(db, ids)).toEqual([]);
}

describe('holds (escrow) on real Postgres', () => {
  it('a hold keeps the besitos the user’s but not spendable: spends, gifts and reversals stop at it', async () => {
    const u = await userWithBesitos(db, 100);
    const v = await userWithBesitos(db, 0);
    const h = await placeHold(db, { userId: u, amount: 70, reference: 'auction:1', idempotencyKey: `h:${u}:1` });
    expect(h.spendable).toBe(30);
    expect(await getBalance(db, u)).toMatchObject({ besitos: 100, held: 70 });
    const refused = await spendBesitos(db, { userId: u, amount: 31, source: 'shop', idempotencyKey: `s:${u}:1` }).catch((e) => e);
    expect(refused).toBeInstanceOf(InsufficientFunds);
    expect(refused.available).toBe(30);
    await expect(transferBesitos(db, { fromUserId: u, toUserId: v, amount: 31, source: 'gift', idempotencyKey: `t:${u}:1` })).rejects.toBeInstanceOf(InsufficientFunds);
    await spendBesitos(db, { userId: u, amount: 30, source: 'shop', idempotencyKey: `s:${u}:2` });
    // Taking back the seed grant would eat held besitos: refused, nothing changes.
    const [seed] = await db<{ id: number }[]>`SELECT id FROM transactions WHERE idempotency_key = ${`seed:${u}`}`;
    await expect(reverseTransaction(db, { transactionId: seed!.id, idempotencyKey: `r:${u}` })).rejects.toBeInstanceOf(ReversalNotPossible);
    expect(await getBalance(db, u)).toMatchObject({ besitos: 70, held: 70 });
    // The CHECK is the backstop for a writer that forgets the guard.
    await expect(db`UPDATE user_balances SET besitos = besitos - 1 WHERE user_id = ${u}`).rejects.toThrow(/held_within/);
    await invariants([u, v]);
  });

  it('holding more than is spendable is refused with what is spendable', async () => {
    const u = await userWithBesitos(db, 50);
    await placeHold(db, { userId: u, amount: 40, reference: 'auction:a', idempotencyKey: `h:${u}:a` });
    const err = await placeHold(db, { userId: u, amount: 11, reference: 'auction:b', idempotencyKey: `h:${u}:b` }).catch((e) => e);
    expect(err).toBeInstanceOf(InsufficientFunds);
    expect(err.available).toBe(10);
    expect((await pendingHolds(db, u)).map((h) => h.amount)).toEqual([40]);
    await invariants([u]);
  });

  it('a second hold for the same reference replaces the first: only the difference must be spendable, one pending hold', async () => {
    const u = await userWithBesitos(db, 100);
    await placeHold(db, { userId: u, amount: 60, reference: 'auction:7', idempotencyKey: `h:${u}:1` });
    const raised = await placeHold(db, { userId: u, amount: 90, reference: 'auction:7', idempotencyKey: `h:${u}:2` });
    expect(raised.replaced?.amount).toBe(60);
    expect(raised.spendable).toBe(10);
    await expect(placeHold(db, { userId: u, amount: 101, reference: 'auction:7', idempotencyKey: `h:${u}:3` })).rejects.toBeInstanceOf(InsufficientFunds);
    expect((await pendingHolds(db, u)).map((h) => h.amount)).toEqual([90]);
    expect((await getBalance(db, u)).held).toBe(90);
    // Same key again: the first result; same key for another amount: refused.
    expect((await placeHold(db, { userId: u, amount: 90, reference: 'auction:7', idempotencyKey: `h:${u}:2` })).replayed).toBe(true);
    await expect(placeHold(db, { userId: u, amount: 80, reference: 'auction:7', idempotencyKey: `h:${u}:2` })).rejects.toBeInstanceOf(IdempotencyConflict);
    await invariants([u]);
  });

  it('void releases once; post turns the hold into a spend and a tax row, once', async () => {
    const u = await userWithBesitos(db, 200);
    const a = await placeHold(db, { userId: u, amount: 50, reference: 'auction:x', idempotencyKey: `h:${u}:x` });
    expect((await voidHold(db, a.hold.id, 'outbid')).released).toBe(true);
    expect((await voidHold(db, a.hold.id, 'outbid')).released).toBe(false);
    expect((await getBalance(db, u)).held).toBe(0);
    await expect(postHold(db, { holdId: a.hold.id, source: 'auction', idempotencyKey: `p:${u}:x` })).rejects.toBeInstanceOf(HoldNotPending);

    const b = await placeHold(db, { userId: u, amount: 120, reference: 'auction:y', idempotencyKey: `h:${u}:y` });
    const posted = await postHold(db, { holdId: b.hold.id, source: 'auction', idempotencyKey: `p:${u}:y`, tax: 12 });
    expect(posted.entries.map((e) => [e.type, e.amount])).toEqual([['spend', -108], ['tax', -12]]);
    expect(posted.entries.at(-1)!.balanceAfter).toBe(80);
    const again = await postHold(db, { holdId: b.hold.id, source: 'auction', idempotencyKey: `p:${u}:y`, tax: 12 });
    expect(again.replayed).toBe(true);
    expect(again.entries.map((e) => e.id)).toEqual(posted.entries.map((e) => e.id));
    expect(await getBalance(db, u)).toMatchObject({ besitos: 80, held: 0 });
    expect((await voidHold(db, b.hold.id, 'late')).released).toBe(false);
    const [ev] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE user_id = ${u} AND type = 'gamification.besitos_spent'`;
    expect(ev!.n).toBe(2);
    await invariants([u]);
  });

  it('voidHoldsOf releases every pending hold of a user', async () => {
    const u = await userWithBesitos(db, 90);
    await placeHold(db, { userId: u, amount: 30, reference: 'auction:1', idempotencyKey: `h:${u}:1` });
    await placeHold(db, { userId: u, amount: 40, reference: 'auction:2', idempotencyKey: `h:${u}:2` });
    expect((await voidHoldsOf(db, u, 'erased')).length).toBe(2);
    expect(await getBalance(db, u)).toMatchObject({ besitos: 90, held: 0 });
    await invariants([u]);
  });

  it('spendable is exact under concurrency: 30 parallel holds and spends never overdraw it', async () => {
    const u = await userWithBesitos(db, 100);
    const ops = Array.from({ length: 30 }, (_, i) =>
      i % 2 === 0
        ? placeHold(db, { userId: u, amount: 10, reference: `auction:c${i}`, idempotencyKey: `h:${u}:c${i}` }).then(() => 10, () => 0)
        : spendBesitos(db, { userId: u, amount: 10, source: 'shop', idempotencyKey: `s:${u}:c${i}` }).then(() => 10, () => 0),
    );
    const done = (await Promise.all(ops)).reduce((a, b) => a + b, 0);
    expect(done).toBe(100);
    const b = await getBalance(db, u);
    expect(b.besitos - b.held).toBe(0);
    await invariants([u]);
  });

  it('grants still work with holds pending, and the held part stays held', async () => {
    const u = await userWithBesitos(db, 10);
    await placeHold(db, { userId: u, amount: 10, reference: 'auction:g', idempotencyKey: `h:${u}:g` });
    await grantBesitos(db, { userId: u, amount: 5, source: 'admin', idempotencyKey: `g:${u}` });
    expect(await getBalance(db, u)).toMatchObject({ besitos: 15, held: 10 });
    await invariants([u]);
  });

  it('moveHold, a bid in one statement: places, replaces, releases the other user’s hold; refused as a whole with what is spendable', async () => {
    const a = await userWithBesitos(db, 100);
    const b = await userWithBesitos(db, 100);
    const first = await moveHold(db, { userId: a, amount: 40, reference: 'auction:m', idempotencyKey: `m:${a}:1` });
    expect(first).toMatchObject({ spendable: 60, replaced: null, released: false });
    const second = await moveHold(db, { userId: b, amount: 50, reference: 'auction:m', idempotencyKey: `m:${b}:1`, release: { holdId: first.holdId, userId: a, reason: 'outbid' } });
    expect(second).toMatchObject({ spendable: 50, released: true });
    expect((await getBalance(db, a)).held).toBe(0);
    const raised = await moveHold(db, { userId: b, amount: 90, reference: 'auction:m', idempotencyKey: `m:${b}:2` });
    expect(raised).toMatchObject({ spendable: 10, replaced: 50 });
    const err = await db.begin((tx) => moveHold(tx, { userId: a, amount: 101, reference: 'auction:m', idempotencyKey: `m:${a}:2`, release: { holdId: raised.holdId, userId: b, reason: 'outbid' } })).catch((e) => e);
    expect(err).toBeInstanceOf(InsufficientFunds);
    expect(err.available).toBe(100);
    expect(await getBalance(db, b)).toMatchObject({ held: 90 });
    expect((await pendingHolds(db, b)).map((h) => h.amount)).toEqual([90]);
    await invariants([a, b]);
  });
});
