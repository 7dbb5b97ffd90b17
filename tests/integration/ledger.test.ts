import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  getBalance,
  getTransactionHistory,
  grantBesitos,
  reverseTransaction,
  spendBesitos,
  transferBesitos,
} from '../../lib/besitos/ledger.js';
import {
  AlreadyReversed,
  IdempotencyConflict,
  InsufficientFunds,
  InvalidAmount,
  InvalidTransfer,
  ReversalNotPossible,
  UnknownAccount,
} from '../../lib/besitos/errors.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(50);

describe('ledger (real Postgres)', () => {
  it('rejects bad amounts before SQL and moves nothing', async () => {
    const u = await userWithBesitos(db, 5);
    for (const amount of [0, -1, 1.5, Number.NaN, 1_000_001, '3' as unknown as number]) {
      await expect(grantBesitos(db, { userId: u, amount, source: 'admin', idempotencyKey: `bad:${u}:${amount}` })).rejects.toBeInstanceOf(InvalidAmount);
      await expect(spendBesitos(db, { userId: u, amount, source: 'shop', idempotencyKey: `bad2:${u}:${amount}` })).rejects.toBeInstanceOf(InvalidAmount);
    }
    expect((await getBalance(db, u)).besitos).toBe(5);
  });

  it('never lets a balance go negative', async () => {
    const u = await userWithBesitos(db, 3);
    await expect(spendBesitos(db, { userId: u, amount: 4, source: 'shop', idempotencyKey: `neg:${u}` })).rejects.toBeInstanceOf(InsufficientFunds);
    expect((await getBalance(db, u)).besitos).toBe(3);
    await expect(db`UPDATE user_balances SET besitos = -1 WHERE user_id = ${u}`).rejects.toThrow(/check/i);
  });

  it('unknown accounts are an error, not a silent no-op', async () => {
    await expect(grantBesitos(db, { userId: 999_999_999, amount: 1, source: 'admin', idempotencyKey: 'ghost' })).rejects.toBeInstanceOf(UnknownAccount);
  });

  it('200 concurrent spends of 1 against 100 on separate connections: exactly 100 succeed', async () => {
    const u = await userWithBesitos(db, 100);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => spendBesitos(db, { userId: u, amount: 1, source: 'shop', idempotencyKey: `c:${u}:${i}` })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const insufficient = results.filter((r) => r.status === 'rejected' && r.reason instanceof InsufficientFunds).length;
    expect(ok).toBe(100);
    expect(insufficient).toBe(100);
    expect((await getBalance(db, u)).besitos).toBe(0);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('a replayed idempotency key returns the first result and writes nothing, also concurrently', async () => {
    const u = await userWithBesitos(db, 10);
    const first = await spendBesitos(db, { userId: u, amount: 4, source: 'shop', idempotencyKey: `r:${u}` });
    const again = await Promise.all(
      Array.from({ length: 20 }, () => spendBesitos(db, { userId: u, amount: 4, source: 'shop', idempotencyKey: `r:${u}` })),
    );
    expect(first.replayed).toBe(false);
    for (const r of again) {
      expect(r.replayed).toBe(true);
      expect(r.entry.id).toBe(first.entry.id);
    }
    expect((await getBalance(db, u)).besitos).toBe(6);
    const [{ count }] = await db<[{ count: number }]>`SELECT count(*)::int AS count FROM outbox WHERE (event->'data'->>'transaction_id')::bigint = ${first.entry.id}`;
    expect(count).toBe(1);
    // The same key for a different operation is a bug in the caller, not a replay.
    await expect(spendBesitos(db, { userId: u, amount: 5, source: 'shop', idempotencyKey: `r:${u}` })).rejects.toBeInstanceOf(IdempotencyConflict);
  });

  it('concurrent first use of one key grants once', async () => {
    const u = await userWithBesitos(db, 0);
    const results = await Promise.all(
      Array.from({ length: 30 }, () => grantBesitos(db, { userId: u, amount: 7, source: 'mission', idempotencyKey: `g:${u}` })),
    );
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await getBalance(db, u)).besitos).toBe(7);
  });

  it('writes the besitos_earned / besitos_spent events in the same transaction', async () => {
    const u = await userWithBesitos(db, 0);
    const g = await grantBesitos(db, { userId: u, amount: 9, source: 'trivia', idempotencyKey: `e:${u}:g` });
    const s = await spendBesitos(db, { userId: u, amount: 2, source: 'shop', idempotencyKey: `e:${u}:s` });
    const events = await db<{ type: string; event: any }[]>`SELECT type, event FROM outbox WHERE user_id = ${u} ORDER BY id`;
    expect(events.map((e) => e.type)).toEqual(['gamification.besitos_earned', 'gamification.besitos_spent']);
    expect(events[0]!.event.data).toMatchObject({ amount: 9, source: 'trivia', transaction_id: g.entry.id, balance_after: 9 });
    expect(events[1]!.event.data).toMatchObject({ amount: 2, source: 'shop', transaction_id: s.entry.id, balance_after: 7 });
    expect(events[0]!.event.event_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reversal restores the balance, is idempotent, and a second different reversal is refused', async () => {
    const u = await userWithBesitos(db, 0);
    const g = await grantBesitos(db, { userId: u, amount: 20, source: 'mission', idempotencyKey: `rv:${u}` });
    const r1 = await reverseTransaction(db, { transactionId: g.entry.id, idempotencyKey: `rv:${u}:undo`, reason: 'bug' });
    const r2 = await reverseTransaction(db, { transactionId: g.entry.id, idempotencyKey: `rv:${u}:undo` });
    expect(r1.replayed).toBe(false);
    expect(r2.replayed).toBe(true);
    expect(r2.reversals[0]!.id).toBe(r1.reversals[0]!.id);
    expect(await getBalance(db, u)).toEqual({ besitos: 0, lifetimeBesitos: 0, held: 0 });
    await expect(reverseTransaction(db, { transactionId: g.entry.id, idempotencyKey: `rv:${u}:other` })).rejects.toBeInstanceOf(AlreadyReversed);
    await expect(db`UPDATE transactions SET amount = 1 WHERE id = ${g.entry.id}`).rejects.toThrow(/append-only/);
    await expect(db`DELETE FROM transactions WHERE id = ${g.entry.id}`).rejects.toThrow(/append-only/);
  });

  it('refuses a reversal that would make a balance negative', async () => {
    const u = await userWithBesitos(db, 0);
    const g = await grantBesitos(db, { userId: u, amount: 10, source: 'mission', idempotencyKey: `rn:${u}` });
    await spendBesitos(db, { userId: u, amount: 8, source: 'shop', idempotencyKey: `rn:${u}:s` });
    await expect(reverseTransaction(db, { transactionId: g.entry.id, idempotencyKey: `rn:${u}:undo` })).rejects.toBeInstanceOf(ReversalNotPossible);
    expect((await getBalance(db, u)).besitos).toBe(2);
  });

  it('transfers atomically, reverses both legs, and concurrent opposite transfers neither deadlock nor leak', async () => {
    const a = await userWithBesitos(db, 100);
    const b = await userWithBesitos(db, 100);
    await expect(transferBesitos(db, { fromUserId: a, toUserId: a, amount: 1, source: 'gift', idempotencyKey: `self:${a}` })).rejects.toBeInstanceOf(InvalidTransfer);
    await expect(transferBesitos(db, { fromUserId: a, toUserId: b, amount: 101, source: 'gift', idempotencyKey: `big:${a}` })).rejects.toBeInstanceOf(InsufficientFunds);
    const t = await transferBesitos(db, { fromUserId: a, toUserId: b, amount: 30, source: 'gift', idempotencyKey: `t:${a}` });
    const replay = await transferBesitos(db, { fromUserId: a, toUserId: b, amount: 30, source: 'gift', idempotencyKey: `t:${a}` });
    expect(replay.replayed).toBe(true);
    expect(replay.debit.id).toBe(t.debit.id);
    expect((await getBalance(db, a)).besitos).toBe(70);
    expect((await getBalance(db, b)).besitos).toBe(130);
    const undo = await reverseTransaction(db, { transactionId: t.credit.id, idempotencyKey: `t:${a}:undo` });
    expect(undo.reversals).toHaveLength(2);
    expect((await getBalance(db, a)).besitos).toBe(100);
    expect((await getBalance(db, b)).besitos).toBe(100);

    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        transferBesitos(db, {
          fromUserId: i % 2 ? a : b,
          toUserId: i % 2 ? b : a,
          amount: 1 + (i % 5),
          source: 'gift',
          idempotencyKey: `x:${a}:${i}`,
        }).catch((e) => {
          if (!(e instanceof InsufficientFunds)) throw e;
        }),
      ),
    );
    const total = (await getBalance(db, a)).besitos + (await getBalance(db, b)).besitos;
    expect(total).toBe(200);
    expect(await ledgerMismatches(db, [a, b])).toEqual([]);
  });

  it('refuses a transfer to an account whose owner erased their data, and moves nothing', async () => {
    const a = await userWithBesitos(db, 20);
    const b = await userWithBesitos(db, 0);
    await db`UPDATE users SET telegram_id = NULL, first_name = NULL, deleted_at = now() WHERE id = ${b}`;
    await expect(transferBesitos(db, { fromUserId: a, toUserId: b, amount: 5, source: 'gift', idempotencyKey: `erased:${a}` })).rejects.toBeInstanceOf(UnknownAccount);
    expect((await getBalance(db, a)).besitos).toBe(20);
    expect((await getBalance(db, b)).besitos).toBe(0);
  });

  it('history is paged newest first', async () => {
    const u = await userWithBesitos(db, 0);
    for (let i = 1; i <= 12; i++) await grantBesitos(db, { userId: u, amount: i, source: 'mission', idempotencyKey: `h:${u}:${i}` });
    const p1 = await getTransactionHistory(db, u, { limit: 10 });
    expect(p1.entries.map((e) => e.amount)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3]);
    const p2 = await getTransactionHistory(db, u, { limit: 10, beforeId: p1.nextCursor });
    expect(p2.entries.map((e) => e.amount)).toEqual([2, 1]);
    expect(p2.nextCursor).toBeNull();
  });

  it('after thousands of random grant/spend/transfer/reverse calls every balance equals its transactions', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, () => userWithBesitos(db, 0)));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('grant' as const), u: fc.nat(7), amount: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('spend' as const), u: fc.nat(7), amount: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ kind: fc.constant('transfer' as const), u: fc.nat(7), v: fc.nat(7), amount: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ kind: fc.constant('reverse' as const), pick: fc.nat(1000) }),
      fc.record({ kind: fc.constant('replay' as const), pick: fc.nat(1000) }),
    );
    const ops = fc.sample(fc.array(op, { minLength: 2000, maxLength: 2000 }), { numRuns: 1, seed: 42 })[0]!;
    const done: { txId: number; key: string; run: () => Promise<unknown> }[] = [];
    let expectedTotal = 0;
    let n = 0;
    const tolerate = (e: unknown) => {
      if (!(e instanceof InsufficientFunds || e instanceof ReversalNotPossible || e instanceof AlreadyReversed || e instanceof InvalidTransfer)) throw e;
    };
    // Run in chunks of 8 concurrent operations so that conflicts actually happen.
    for (let i = 0; i < ops.length; i += 8) {
      await Promise.all(
        ops.slice(i, i + 8).map(async (o) => {
          const key = `fz:${users[0]}:${n++}`;
          try {
            if (o.kind === 'grant') {
              const run = () => grantBesitos(db, { userId: users[o.u]!, amount: o.amount, source: 'admin', idempotencyKey: key });
              const r = await run();
              expectedTotal += o.amount;
              done.push({ txId: r.entry.id, key, run });
            } else if (o.kind === 'spend') {
              const run = () => spendBesitos(db, { userId: users[o.u]!, amount: o.amount, source: 'shop', idempotencyKey: key });
              const r = await run();
              expectedTotal -= o.amount;
              done.push({ txId: r.entry.id, key, run });
            } else if (o.kind === 'transfer') {
              const run = () => transferBesitos(db, { fromUserId: users[o.u]!, toUserId: users[o.v]!, amount: o.amount, source: 'gift', idempotencyKey: key });
              const r = await run();
              done.push({ txId: r.debit.id, key, run });
            } else if (o.kind === 'reverse' && done.length > 0) {
              const target = done[o.pick % done.length]!;
              const r = await reverseTransaction(db, { transactionId: target.txId, idempotencyKey: `${target.key}:rev` });
              if (!r.replayed) for (const rev of r.reversals) expectedTotal += rev.amount;
            } else if (o.kind === 'replay' && done.length > 0) {
              await done[o.pick % done.length]!.run(); // must change nothing
            }
          } catch (e) {
            tolerate(e);
          }
        }),
      );
    }
    expect(await ledgerMismatches(db, users)).toEqual([]);
    const [{ total }] = await db<[{ total: number }]>`SELECT COALESCE(SUM(besitos), 0)::bigint AS total FROM user_balances WHERE user_id IN ${db(users)}`;
    expect(total).toBe(expectedTotal);
  });
});
