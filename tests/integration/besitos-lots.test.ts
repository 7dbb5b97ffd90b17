import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getBalance, grantBesitos, reverseTransaction, spendBesitos, transferBesitos } from '../../lib/besitos/ledger.js';
import { InsufficientFunds, ReversalNotPossible } from '../../lib/besitos/errors.js';
import { takeFromLots } from '../../lib/besitos/lots.js';
import { createScheduler } from '../../lib/scheduler/index.js';
import { eraseUser } from '../../lib/users/privacy.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { silentLogger } from '../../lib/log.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, openLotsOf, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(40);
const tz = 'America/Mexico_City';
const DAY = 86_400_000;
const t0 = new Date('2026-11-26T18:00:00Z');
const plus = (days: number) => new Date(t0.getTime() + days * DAY);
let seq = 0;
const key = (tag: string) => `lots:${tag}:${++seq}`;

const bonus = (userId: number, amount: number, now: Date) =>
  grantBesitos(db, { userId, amount, source: 'event:prueba', idempotencyKey: key('b'), now, timeZone: tz });
const plain = (userId: number, amount: number) => grantBesitos(db, { userId, amount, source: 'admin', idempotencyKey: key('p') });
const spend = (userId: number, amount: number) => spendBesitos(db, { userId, amount, source: 'shop', idempotencyKey: key('s') });

function schedulerAt(now: Date, sent: { chat: number; text: string }[] = []) {
  const telegram = { sendMessage: async (chat: number, text: string) => (sent.push({ chat, text }), {}) } as never;
  return createScheduler({ db, log: silentLogger, clock: () => now, timeZone: tz, telegram });
}

async function lotIds(userId: number): Promise<number[]> {
  return (await db<{ id: number }[]>`SELECT id FROM besitos_lots WHERE user_id = ${userId} ORDER BY id`).map((r) => Number(r.id));
}

describe('takeFromLots (pure)', () => {
  it('takes preferred lots first, then soonest expiry, then oldest, never more than asked or held', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ remaining: fc.integer({ min: 0, max: 50 }), day: fc.integer({ min: 0, max: 5 }) }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 300 }),
        (spec, amount) => {
          const lots = spec.map((l, i) => ({ id: i + 1, remaining: l.remaining, expiresAt: plus(l.day) }));
          const takes = takeFromLots(lots, amount);
          const held = lots.reduce((s, l) => s + l.remaining, 0);
          expect(takes.reduce((s, t) => s + t.amount, 0)).toBe(Math.min(amount, held));
          // FIFO: a lot is touched only if every lot expiring before it is emptied.
          for (const t of takes) {
            const lot = lots.find((l) => l.id === t.lotId)!;
            expect(t.amount).toBeLessThanOrEqual(lot.remaining);
            for (const earlier of lots.filter((l) => l.remaining > 0 && (l.expiresAt < lot.expiresAt || (+l.expiresAt === +lot.expiresAt && l.id < lot.id))))
              expect(takes.find((x) => x.lotId === earlier.id)?.amount).toBe(earlier.remaining);
          }
        },
      ),
    );
  });
});

describe('expiring bonus lots (real Postgres)', () => {
  it('a bonus grant opens a lot expiring 30 days later; spending takes it first, then the non-expiring part', async () => {
    const u = await userWithBesitos(db, 100);
    await bonus(u, 30, t0);
    expect(await openLotsOf(db, u)).toEqual([[30, plus(30).toISOString()]]);
    await spend(u, 20);
    expect(await openLotsOf(db, u)).toEqual([[10, plus(30).toISOString()]]);
    await spend(u, 15); // 10 from the lot, 5 from the rest
    expect(await openLotsOf(db, u)).toEqual([]);
    expect((await getBalance(db, u)).besitos).toBe(95);
    await expect(spend(u, 96)).rejects.toBeInstanceOf(InsufficientFunds);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('FIFO over several lots with partial spends: soonest expiry first, whatever the grant order', async () => {
    const u = await userWithBesitos(db, 10);
    await bonus(u, 5, plus(4)); // expires day 34
    await bonus(u, 7, plus(1)); // expires day 31: first to go
    await bonus(u, 3, plus(2)); // day 32
    await spend(u, 8);
    expect(await openLotsOf(db, u)).toEqual([
      [2, plus(32).toISOString()],
      [5, plus(34).toISOString()],
    ]);
    await spend(u, 4);
    expect(await openLotsOf(db, u)).toEqual([[3, plus(34).toISOString()]]);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('the expiry job writes one expire spend for what is left, run twice (and concurrently) expires once, and tells the user', async () => {
    const u = await userWithBesitos(db, 50);
    await bonus(u, 40, t0);
    await spend(u, 15);
    const [lot] = await lotIds(u);
    const sent: { chat: number; text: string }[] = [];
    // Not due yet on day 29.
    expect(await schedulerAt(plus(29.9)).runJob(`besitos.bonus_expire:${lot}`)).toBeNull();
    const s = schedulerAt(plus(30), sent);
    await Promise.all([s.runJob(`besitos.bonus_expire:${lot}`), s.runJob(`besitos.bonus_expire:${lot}`)]);
    await s.runJob(`besitos.bonus_expire:${lot}`);
    const expired = await db`SELECT amount, source, type FROM transactions WHERE user_id = ${u} AND source = 'expire'`;
    expect(expired).toEqual([{ amount: -25, source: 'expire', type: 'spend' }]);
    expect((await getBalance(db, u)).besitos).toBe(50);
    await s.runJob(`besitos.bonus_expired:${lot}`);
    expect(sent.map((m) => m.text)).toEqual(['⌛ Caducaron <b>25 besitos bonus</b> que no llegaste a usar. Tu saldo ahora: <b>50</b> besitos.']);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('warns 3 days before with what is still unspent, and says nothing when it was all spent', async () => {
    const u = await userWithBesitos(db);
    await bonus(u, 12, t0);
    const v = await userWithBesitos(db);
    await bonus(v, 12, t0);
    await spend(v, 12);
    const sent: { chat: number; text: string }[] = [];
    const s = schedulerAt(plus(27), sent);
    const [job] = await db<{ key: string }[]>`SELECT key FROM scheduled_jobs WHERE key LIKE ${`besitos.bonus_warn:${u}:%`}`;
    const [jobV] = await db<{ key: string }[]>`SELECT key FROM scheduled_jobs WHERE key LIKE ${`besitos.bonus_warn:${v}:%`}`;
    await s.runJob(job!.key);
    await s.runJob(jobV!.key);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.text).toMatch(/^⏳ Tienes <b>12 besitos bonus<\/b> que caducan el sábado 26 de diciembre a las 12:00 \(hora del centro de México\)\./);
  });

  it('a gift carries the sender’s lots with their expiry; undoing it gives them back', async () => {
    const a = await userWithBesitos(db, 20);
    const b = await userWithBesitos(db, 5);
    await bonus(a, 10, t0);
    const t = await transferBesitos(db, { fromUserId: a, toUserId: b, amount: 15, source: 'gift', idempotencyKey: key('gift'), now: t0, timeZone: tz });
    expect(await openLotsOf(db, a)).toEqual([]);
    expect(await openLotsOf(db, b)).toEqual([[10, plus(30).toISOString()]]);
    expect(await ledgerMismatches(db, [a, b])).toEqual([]);
    await reverseTransaction(db, { transactionId: t.debit.id, idempotencyKey: key('undo'), now: t0, timeZone: tz });
    expect(await openLotsOf(db, b)).toEqual([]);
    expect(await openLotsOf(db, a)).toEqual([[10, plus(30).toISOString()]]);
    expect((await getBalance(db, a)).besitos).toBe(30);
    expect((await getBalance(db, b)).besitos).toBe(5);
    expect(await ledgerMismatches(db, [a, b])).toEqual([]);
  });

  it('reversing a bonus grant takes its own lot first; reversing a plain grant takes the non-expiring part first', async () => {
    const u = await userWithBesitos(db, 10);
    const g = await bonus(u, 30, t0);
    const p = await plain(u, 20);
    await reverseTransaction(db, { transactionId: p.entry.id, idempotencyKey: key('rp') });
    expect(await openLotsOf(db, u)).toEqual([[30, plus(30).toISOString()]]);
    await spend(u, 25); // lot: 5 left
    // 30 to take back: 5 from its lot, then the 10 non-expiring: not enough, refused, nothing moves.
    await expect(reverseTransaction(db, { transactionId: g.entry.id, idempotencyKey: key('rg') })).rejects.toBeInstanceOf(ReversalNotPossible);
    expect(await openLotsOf(db, u)).toEqual([[5, plus(30).toISOString()]]);
    await plain(u, 40); // 5 in the lot + 50
    await reverseTransaction(db, { transactionId: g.entry.id, idempotencyKey: key('rg2') }); // the lot's 5, then 25 of the rest
    expect(await openLotsOf(db, u)).toEqual([]);
    expect((await getBalance(db, u)).besitos).toBe(25);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('property: random bonus/plain grants, spends, gifts, undos and expiries keep both invariants and FIFO', async () => {
    const users = [await userWithBesitos(db, 30), await userWithBesitos(db, 30), await userWithBesitos(db, 0)];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('bonus' as const), u: fc.nat(2), amount: fc.integer({ min: 1, max: 20 }), day: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('plain' as const), u: fc.nat(2), amount: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('spend' as const), u: fc.nat(2), amount: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ kind: fc.constant('gift' as const), u: fc.nat(2), to: fc.nat(2), amount: fc.integer({ min: 1, max: 25 }) }),
      fc.record({ kind: fc.constant('undo' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('expire' as const), day: fc.integer({ min: 0, max: 80 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
        const done: number[] = [];
        const tolerate = (e: unknown) => {
          if (!(e instanceof InsufficientFunds || e instanceof ReversalNotPossible || (e as Error).name === 'AlreadyReversed' || (e as Error).name === 'InvalidTransfer')) throw e;
        };
        // Chunks of 3 concurrent operations, so that lots are raced too.
        for (let i = 0; i < ops.length; i += 3) {
          await Promise.all(
            ops.slice(i, i + 3).map(async (o) => {
              try {
                if (o.kind === 'bonus') done.push((await bonus(users[o.u]!, o.amount, plus(o.day))).entry.id);
                else if (o.kind === 'plain') done.push((await plain(users[o.u]!, o.amount)).entry.id);
                else if (o.kind === 'spend') done.push((await spend(users[o.u]!, o.amount)).entry.id);
                else if (o.kind === 'gift')
                  done.push((await transferBesitos(db, { fromUserId: users[o.u]!, toUserId: users[o.to]!, amount: o.amount, source: 'gift', idempotencyKey: key('g') })).debit.id);
                else if (o.kind === 'undo' && done.length)
                  await reverseTransaction(db, { transactionId: done[o.pick % done.length]!, idempotencyKey: key('u') });
                else if (o.kind === 'expire') {
                  const due = await db<{ key: string }[]>`SELECT key FROM scheduled_jobs WHERE kind = 'besitos.bonus_expire' AND state = 'pending' AND due_at <= ${plus(o.day)}`;
                  const s = schedulerAt(plus(o.day));
                  for (const j of due) await s.runJob(j.key);
                }
              } catch (e) {
                tolerate(e);
              }
            }),
          );
        }
        expect(await ledgerMismatches(db, users)).toEqual([]);
        // No lot past its expiry survives a run of its job: a lot the job saw is empty.
        const stale = await db`
          SELECT l.id FROM besitos_lots l JOIN scheduled_jobs j ON j.key = 'besitos.bonus_expire:' || l.id
           WHERE j.state = 'done' AND l.remaining > 0 AND l.expires_at <= j.due_at AND NOT EXISTS (
             SELECT 1 FROM besitos_lot_moves m JOIN transactions t ON t.id = m.transaction_id WHERE m.lot_id = l.id AND t.type = 'reversal' AND m.amount > 0)`;
        expect(stale).toEqual([]);
      }),
      { numRuns: 15, seed: 23 },
    );
  });

  it('expiry raced with /borrar: both finish, the lot expires once, the erased user is not told', async () => {
    const u = await userWithBesitos(db, 5);
    await bonus(u, 9, t0);
    const [lot] = await lotIds(u);
    const [row] = await db<{ telegram_id: number }[]>`SELECT telegram_id FROM users WHERE id = ${u}`;
    const sent: { chat: number; text: string }[] = [];
    const s = schedulerAt(plus(30), sent);
    await Promise.all([s.runJob(`besitos.bonus_expire:${lot}`), eraseUser(db, createMemoryStore(), { userId: u, telegramId: Number(row!.telegram_id) })]);
    await s.sweep();
    expect(await db`SELECT amount FROM transactions WHERE user_id = ${u} AND source = 'expire'`).toEqual([{ amount: -9 }]);
    expect(sent.filter((m) => m.chat === Number(row!.telegram_id))).toEqual([]);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });
});
