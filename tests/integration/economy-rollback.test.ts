/**
 * Rollback of grants (lib/besitos/rollback through the admin's command): compensating rows, never
 * below zero with the shortfall per user, idempotent (the same request, a second request, two admins
 * at once), a window with nothing in it, and races with the user spending and with /borrar.
 */
import { describe, expect, it } from 'vitest';
import { runAdminCommand } from '../../lib/admin/index.js';
import { ReversalNotPossible, TransactionNotFound } from '../../lib/besitos/errors.js';
import { getBalance, grantBesitos, spendBesitos, transferBesitos } from '../../lib/besitos/ledger.js';
import { economyRollbackCommand, type RollbackParams } from '../../lib/economy/commands.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { eraseUser } from '../../lib/users/privacy.js';
import { registerUser } from '../../lib/users/registration.js';
import { uniqueTelegramId, useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(30);
const admin = await userWithBesitos(db, 0);
let seq = 0;
const rollback = (p: RollbackParams, key = `rb:${++seq}:${Math.random()}`) => runAdminCommand(db, economyRollbackCommand, admin, key, p, new Date());

/**
 * A source name of this test only, so windows never catch another test's grants: a detail of the
 * policy's 'admin' source (lib/besitos/policy.ts refuses grants from sources it doesn't name).
 */
const src = () => `admin:bug${++seq}`;

async function grant(userId: number, amount: number, source: string) {
  return (await grantBesitos(db, { userId, amount, source, idempotencyKey: `g:${source}:${userId}:${++seq}` })).entry;
}

describe('rollback', () => {
  it('one grant: taken back whole with a reversal row carrying the reason; asked again, nothing more', async () => {
    const u = await userWithBesitos(db, 5);
    const g = await grant(u, 40, src());
    const r = await rollback({ mode: 'transaction', transactionId: g.id, reason: 'concedido por error' });
    expect(r).toMatchObject({ found: 1, rolledBack: 1, taken: 40, shortfall: 0, type: 'grant' });
    expect((await getBalance(db, u)).besitos).toBe(5);
    const [rev] = await db`SELECT * FROM transactions WHERE reverses = ${g.id}`;
    expect(rev).toMatchObject({ type: 'reversal', amount: -40, description: 'concedido por error', balance_after: 5 });
    const again = await rollback({ mode: 'transaction', transactionId: g.id, reason: 'otra vez' });
    expect(again).toMatchObject({ found: 1, rolledBack: 0, alreadyDone: 1, taken: 0 });
    expect((await getBalance(db, u)).besitos).toBe(5);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('the same request delivered twice (same key) replays the first result', async () => {
    const u = await userWithBesitos(db, 0);
    const g = await grant(u, 10, src());
    const key = `same:${g.id}`;
    const [a, b] = await Promise.all([
      rollback({ mode: 'transaction', transactionId: g.id, reason: 'duplicado' }, key),
      rollback({ mode: 'transaction', transactionId: g.id, reason: 'duplicado' }, key),
    ]);
    expect(a).toEqual(b);
    expect(a.taken).toBe(10);
    expect(await db`SELECT 1 FROM transactions WHERE reverses = ${g.id}`).toHaveLength(1);
  });

  it('never below zero: what was spent is reported per user as the shortfall, and not taken later either', async () => {
    const u = await userWithBesitos(db, 0);
    const source = src();
    const g = await grant(u, 100, source);
    await spendBesitos(db, { userId: u, amount: 70, source: 'shop', idempotencyKey: `s:${u}` });
    const from = new Date(g.createdAt.getTime() - 1000);
    const to = new Date(Date.now() + 1000);
    const r = await rollback({ mode: 'window', source, from: from.toISOString(), to: to.toISOString(), reason: 'bug de la fuente' });
    expect(r).toMatchObject({ found: 1, rolledBack: 1, amount: 100, taken: 30, shortfall: 70 });
    expect(r.users).toEqual([{ userId: u, amount: 100, taken: 30, shortfall: 70, grants: 1 }]);
    expect((await getBalance(db, u)).besitos).toBe(0);
    // the user earns again; asking again takes nothing: the grant was rolled back once, with its shortfall
    await grant(u, 50, 'daily');
    const again = await rollback({ mode: 'window', source, from: from.toISOString(), to: to.toISOString(), reason: 'bug de la fuente' });
    expect(again).toMatchObject({ found: 1, rolledBack: 0, alreadyDone: 1, taken: 0 });
    expect((await getBalance(db, u)).besitos).toBe(50);
    const [item] = await db`SELECT amount, taken, shortfall FROM economy_rollback_items WHERE transaction_id = ${g.id}`;
    expect(item).toEqual({ amount: 100, taken: 30, shortfall: 70 });
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('a window restores the expected balances for every user in it, and only that source and time', async () => {
    const source = src();
    const users = await Promise.all(Array.from({ length: 12 }, () => userWithBesitos(db, 20)));
    const start = new Date(Date.now() - 1000);
    for (const [i, u] of users.entries()) {
      await grant(u, 10 + i, source);
      await grant(u, 7, 'daily'); // another source: untouched
      if (i % 3 === 0) await spendBesitos(db, { userId: u, amount: 30 + i, source: 'shop', idempotencyKey: `w:${u}` });
    }
    const before = new Map(await Promise.all(users.map(async (u) => [u, (await getBalance(db, u)).besitos] as const)));
    const r = await rollback({ mode: 'window', source, from: start.toISOString(), to: new Date(Date.now() + 1000).toISOString(), reason: 'fuente con error' });
    expect(r.found).toBe(12);
    expect(r.rolledBack).toBe(12);
    for (const [i, u] of users.entries()) {
      const expected = Math.max(0, before.get(u)! - (10 + i));
      expect((await getBalance(db, u)).besitos).toBe(expected);
    }
    expect(r.taken + r.shortfall).toBe(r.amount);
    expect(r.amount).toBe(users.reduce((s, _, i) => s + 10 + i, 0));
    expect(await ledgerMismatches(db, users)).toEqual([]);
  });

  it('a family name covers its details (reaction → reaction:post:N); a detailed name only itself', async () => {
    const u = await userWithBesitos(db, 0);
    const start = new Date(Date.now() - 1000).toISOString();
    await grant(u, 2, 'reaction:post:1');
    await grant(u, 2, 'reaction:post:2');
    const end = () => new Date(Date.now() + 1000).toISOString();
    expect(await rollback({ mode: 'window', source: 'reaction:post:1', from: start, to: end(), reason: 'solo una publicación' })).toMatchObject({ found: 1, taken: 2 });
    expect(await rollback({ mode: 'window', source: 'reaction', from: start, to: end(), reason: 'todas las reacciones' })).toMatchObject({ found: 2, rolledBack: 1, alreadyDone: 1, taken: 2 });
    expect((await getBalance(db, u)).besitos).toBe(0);
  });

  it('a window with nothing in it: found 0, nothing written', async () => {
    const before = await db`SELECT count(*)::int AS n FROM transactions`;
    const r = await rollback({ mode: 'window', source: 'nadie', from: '2020-01-01T00:00:00.000Z', to: '2020-01-02T00:00:00.000Z', reason: 'ventana vacía' });
    expect(r).toMatchObject({ found: 0, rolledBack: 0, taken: 0, shortfall: 0, users: [] });
    expect(await db`SELECT count(*)::int AS n FROM transactions`).toEqual(before);
  });

  it('unknown transaction and reversals are refused with their own errors', async () => {
    await expect(rollback({ mode: 'transaction', transactionId: 987_654_321, reason: 'no existe' })).rejects.toBeInstanceOf(TransactionNotFound);
    const u = await userWithBesitos(db, 0);
    const g = await grant(u, 5, src());
    await rollback({ mode: 'transaction', transactionId: g.id, reason: 'primera' });
    const [rev] = await db<{ id: number }[]>`SELECT id FROM transactions WHERE reverses = ${g.id}`;
    await expect(rollback({ mode: 'transaction', transactionId: rev!.id, reason: 'revertir la reversión' })).rejects.toBeInstanceOf(ReversalNotPossible);
  });

  it('a spend is given back whole; a gift is reversed whole, or refused when the receiver spent it', async () => {
    const u = await userWithBesitos(db, 50);
    const s = (await spendBesitos(db, { userId: u, amount: 20, source: 'shop', idempotencyKey: `sp:${u}` })).entry;
    expect(await rollback({ mode: 'transaction', transactionId: s.id, reason: 'compra fallida' })).toMatchObject({ rolledBack: 1, taken: 20, type: 'spend' });
    expect((await getBalance(db, u)).besitos).toBe(50);
    const v = await userWithBesitos(db, 0);
    const t = await transferBesitos(db, { fromUserId: u, toUserId: v, amount: 10, source: 'gift', idempotencyKey: `tr:${u}` });
    await spendBesitos(db, { userId: v, amount: 10, source: 'shop', idempotencyKey: `sp:${v}` });
    await expect(rollback({ mode: 'transaction', transactionId: t.debit.id, reason: 'regalo por error' })).rejects.toBeInstanceOf(ReversalNotPossible);
    expect(await ledgerMismatches(db, [u, v])).toEqual([]);
  });

  it('races the user spending on parallel connections: never below zero, every besito accounted for', async () => {
    for (let round = 0; round < 5; round++) {
      const u = await userWithBesitos(db, 0);
      const source = src();
      const grants = [];
      for (let i = 0; i < 5; i++) grants.push(await grant(u, 20, source));
      const spends = Array.from({ length: 12 }, (_, i) =>
        spendBesitos(db, { userId: u, amount: 10, source: 'shop', idempotencyKey: `race:${u}:${i}` }).then(
          () => 10,
          () => 0,
        ),
      );
      const rb = rollback({ mode: 'window', source, from: new Date(grants[0]!.createdAt.getTime() - 1000).toISOString(), to: new Date(Date.now() + 5000).toISOString(), reason: 'carrera' });
      const [r, ...spent] = await Promise.all([rb, ...spends]);
      const totalSpent = spent.reduce((s, x) => s + x, 0);
      const balance = (await getBalance(db, u)).besitos;
      expect(balance).toBeGreaterThanOrEqual(0);
      // 100 granted = spent + taken back + what is left
      expect(totalSpent + r.taken + balance).toBe(100);
      expect(r.taken + r.shortfall).toBe(100);
      expect(await ledgerMismatches(db, [u])).toEqual([]);
    }
  });

  it('two admins rolling back the same window at once: each grant once', async () => {
    const source = src();
    const users = await Promise.all(Array.from({ length: 8 }, () => userWithBesitos(db, 0)));
    for (const u of users) await grant(u, 15, source);
    const p: RollbackParams = { mode: 'window', source, from: new Date(Date.now() - 60_000).toISOString(), to: new Date(Date.now() + 5000).toISOString(), reason: 'dos administradores' };
    const [a, b] = await Promise.all([rollback(p), rollback(p)]);
    expect(a.rolledBack + b.rolledBack).toBe(8);
    expect(a.alreadyDone + b.alreadyDone).toBe(8);
    expect(a.taken + b.taken).toBe(120);
    for (const u of users) expect((await getBalance(db, u)).besitos).toBe(0);
    expect(await ledgerMismatches(db, users)).toEqual([]);
  });

  it('races /borrar: both finish, the erased account is rolled back too, the ledger holds', async () => {
    const source = src();
    const people = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const tg = uniqueTelegramId();
        const u = await registerUser(db, { id: tg, first_name: 'Borrable' });
        return { id: u.id, tg };
      }),
    );
    for (const p of people) await grant(p.id, 25, source);
    const kv = createMemoryStore();
    const [r] = await Promise.all([
      rollback({ mode: 'window', source, from: new Date(Date.now() - 60_000).toISOString(), to: new Date(Date.now() + 5000).toISOString(), reason: 'carrera con borrar' }),
      ...people.map((p) => eraseUser(db, kv, { userId: p.id, telegramId: p.tg })),
    ]);
    expect(r.rolledBack).toBe(6);
    expect(r.taken).toBe(150);
    const erased = await db`SELECT count(*)::int AS n FROM users WHERE id IN ${db(people.map((p) => p.id))} AND deleted_at IS NOT NULL`;
    expect(erased[0]!.n).toBe(6);
    expect(await ledgerMismatches(db, people.map((p) => p.id))).toEqual([]);
  });
});
