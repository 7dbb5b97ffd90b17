import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getBalance, grantBesitos, reverseTransaction, spendBesitos, transferBesitos } from '../../lib/besitos/ledger.js';
import { InsufficientFunds, ReversalNotPossible } from '../../lib/besitos/errors.js';
import { HELD_RETRY_MS, takeFromLots } from '../../lib/besitos/lots.js';
import { holdMismatches, placeHold, postHold, voidHold } from '../../lib/besitos/holds.js';
import { createScheduler } from '../../lib/scheduler/index.js';
import { triggerEvent } from '../../lib/scheduler/triggers.js';
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

  it('an auction win (a posted hold) spends bonus lots first, like any spend: both invariants hold', async () => {
    const u = await userWithBesitos(db, 10);
    await bonus(u, 40, t0); // 50 besitos, 40 of them bonus
    const h = await placeHold(db, { userId: u, amount: 45, reference: 'auction:lots', idempotencyKey: key('h') });
    const posted = await postHold(db, { holdId: h.hold.id, source: 'auction', idempotencyKey: key('post'), tax: 5, taxSource: 'tax' });
    expect(posted.entries.map((e) => [e.type, e.amount])).toEqual([['spend', -40], ['tax', -5]]);
    // The spend took the whole lot (soonest expiry first), the tax the non-expiring part.
    expect(await openLotsOf(db, u)).toEqual([]);
    expect(await getBalance(db, u)).toMatchObject({ besitos: 5, held: 0 });
    const [b] = await db<{ bonus_besitos: number }[]>`SELECT bonus_besitos FROM user_balances WHERE user_id = ${u}`;
    expect(Number(b!.bonus_besitos)).toBe(0);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
    expect(await holdMismatches(db, [u])).toEqual([]);
  });

  it('a lot whose besitos are held by a bid does not expire while held: the job looks again, and expires it once released', async () => {
    const u = await userWithBesitos(db, 10);
    await bonus(u, 40, t0);
    const [lot] = await lotIds(u);
    const h = await placeHold(db, { userId: u, amount: 45, reference: 'auction:wait', idempotencyKey: key('h') });
    // Expiring 40 would leave 10 besitos under a hold of 45: the job waits instead of failing.
    expect(await schedulerAt(plus(30)).runJob(`besitos.bonus_expire:${lot}`)).toBe('done');
    expect(await db`SELECT 1 FROM transactions WHERE user_id = ${u} AND source = 'expire'`).toHaveLength(0);
    expect(await openLotsOf(db, u)).toEqual([[40, plus(30).toISOString()]]);
    await voidHold(db, h.hold.id, 'outbid', plus(30));
    const retryAt = new Date(plus(30).getTime() + HELD_RETRY_MS);
    expect(await schedulerAt(retryAt).runJob(`besitos.bonus_expire:${lot}:held:${retryAt.getTime()}`)).toBe('done');
    const expired = await db`SELECT amount FROM transactions WHERE user_id = ${u} AND source = 'expire'`;
    expect(expired).toEqual([{ amount: -40 }]);
    expect(await getBalance(db, u)).toMatchObject({ besitos: 10, held: 0 });
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

describe('lots inside the ledger’s one statement (a bonus grant and a spend are one round trip each)', () => {
  const moves = async (transactionId: number) =>
    (await db<{ lot_id: number; amount: number }[]>`SELECT lot_id, amount FROM besitos_lot_moves WHERE transaction_id = ${transactionId} ORDER BY lot_id`).map(
      (m) => [Number(m.lot_id), Number(m.amount)],
    );

  it('a bonus grant replayed (in turn and concurrently) opens one lot and schedules its expiry and warning once, each with one trigger', async () => {
    const u = await userWithBesitos(db, 5);
    const k = key('replay');
    const first = await grantBesitos(db, { userId: u, amount: 12, source: 'event:prueba', idempotencyKey: k, now: t0, timeZone: tz });
    const again = await Promise.all(
      Array.from({ length: 8 }, () => grantBesitos(db, { userId: u, amount: 12, source: 'event:prueba', idempotencyKey: k, now: t0, timeZone: tz })),
    );
    expect(again.every((r) => r.replayed && r.entry.id === first.entry.id)).toBe(true);
    const [lot] = await lotIds(u);
    expect(await lotIds(u)).toHaveLength(1);
    expect(await moves(first.entry.id)).toEqual([[lot, 12]]);
    const jobs = await db<{ kind: string; key: string; payload: unknown; due_at: Date }[]>`
      SELECT kind, key, payload, due_at FROM scheduled_jobs WHERE key = ${`besitos.bonus_expire:${lot}`} OR key LIKE ${`besitos.bonus_warn:${u}:%`} ORDER BY key`;
    expect(jobs).toEqual([
      { kind: 'besitos.bonus_expire', key: `besitos.bonus_expire:${lot}`, payload: { lot_id: lot }, due_at: plus(30) },
      { kind: 'besitos.bonus_notice', key: `besitos.bonus_warn:${u}:2026-12-26`, payload: { user_id: u, what: 'warn', until: plus(30).toISOString() }, due_at: plus(27) },
    ]);
    // The triggers are triggerEvent's, the expiry's derived in SQL from a key only the statement knew.
    for (const j of jobs) {
      const expected = triggerEvent(j.key, j.due_at);
      const rows = await db<{ event_id: string; event: unknown }[]>`SELECT event_id::text, event FROM outbox WHERE type = 'system.job_due' AND event->'data'->>'job_key' = ${j.key}`;
      expect(rows).toEqual([{ event_id: expected.event_id, event: expected }]);
    }
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('a second lot expiring the same local day shares the first one’s warning (the dedupe key)', async () => {
    const u = await userWithBesitos(db);
    await bonus(u, 3, t0);
    await bonus(u, 4, new Date(t0.getTime() + 3_600_000));
    expect(await db`SELECT 1 FROM scheduled_jobs WHERE key LIKE ${`besitos.bonus_warn:${u}:%`}`).toHaveLength(1);
    expect(await db`SELECT 1 FROM scheduled_jobs WHERE kind = 'besitos.bonus_expire' AND payload->>'lot_id' IN ${db((await lotIds(u)).map(String))}`).toHaveLength(2);
  });

  it('a spend across 3 lots: the first two emptied, the third partly, each take a move of the spend', async () => {
    const u = await userWithBesitos(db, 4);
    await bonus(u, 9, plus(3));
    await bonus(u, 5, plus(1));
    await bonus(u, 7, plus(2));
    const [l9, l5, l7] = await lotIds(u);
    const s = await spend(u, 15);
    expect(await moves(s.entry.id)).toEqual([[l9, -3], [l5, -5], [l7, -7]].sort((a, b) => a[0]! - b[0]!));
    expect(await openLotsOf(db, u)).toEqual([[6, plus(33).toISOString()]]);
    // A refused spend touches no lot; a replayed one takes once.
    await expect(spend(u, 11)).rejects.toBeInstanceOf(InsufficientFunds);
    const k = key('s');
    const a = await spendBesitos(db, { userId: u, amount: 8, source: 'shop', idempotencyKey: k });
    const b = await spendBesitos(db, { userId: u, amount: 8, source: 'shop', idempotencyKey: k });
    expect(b).toMatchObject({ replayed: true, entry: { id: a.entry.id } });
    expect(await moves(a.entry.id)).toEqual([[l9, -6]]);
    expect(await openLotsOf(db, u)).toEqual([]);
    expect(await getBalance(db, u)).toMatchObject({ besitos: 2 });
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('60 concurrent spends of 3 from the same 3 lots on parallel connections never overdraw a lot', async () => {
    const u = await userWithBesitos(db, 10);
    await bonus(u, 20, plus(1));
    await bonus(u, 20, plus(2));
    await bonus(u, 20, plus(3));
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => spendBesitos(db, { userId: u, amount: 3, source: 'shop', idempotencyKey: `${key('c')}:${i}` })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(23); // 70 / 3
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(InsufficientFunds);
    // Every lot emptied exactly: its moves add up to what it held, never past it.
    const lots = await db<{ amount: number; remaining: number; moved: number }[]>`
      SELECT l.amount, l.remaining, (SELECT sum(m.amount) FROM besitos_lot_moves m WHERE m.lot_id = l.id)::int AS moved
        FROM besitos_lots l WHERE l.user_id = ${u} ORDER BY l.id`;
    expect(lots.map((l) => [Number(l.remaining), Number(l.moved)])).toEqual([[0, 0], [0, 0], [0, 0]]);
    expect(await getBalance(db, u)).toMatchObject({ besitos: 1 });
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('spends raced with bonus grants and gifts opening lots for the same user: both invariants hold (a stale read of the lots runs again)', async () => {
    const u = await userWithBesitos(db, 50);
    const friend = await userWithBesitos(db, 0);
    await bonus(friend, 200, t0);
    for (let round = 0; round < 5; round++) {
      const ops = Array.from({ length: 24 }, (_, i) => {
        if (i % 3 === 0) return bonus(u, 4, plus(i % 5));
        if (i % 3 === 1) return transferBesitos(db, { fromUserId: friend, toUserId: u, amount: 3, source: 'gift', idempotencyKey: key('g'), now: t0, timeZone: tz });
        return spend(u, 5);
      });
      for (const r of await Promise.allSettled(ops)) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(InsufficientFunds);
      expect(await ledgerMismatches(db, [u, friend])).toEqual([]);
    }
    // Each spend took at most its amount from lots, and some took from them.
    const taken = await db<{ amount: number; from_lots: number }[]>`
      SELECT -t.amount AS amount, COALESCE(-(SELECT sum(m.amount) FROM besitos_lot_moves m WHERE m.transaction_id = t.id), 0)::int AS from_lots
        FROM transactions t WHERE t.user_id = ${u} AND t.type = 'spend'`;
    expect(taken.some((t) => Number(t.from_lots) > 0)).toBe(true);
    for (const t of taken) expect(Number(t.from_lots)).toBeLessThanOrEqual(Number(t.amount));
  });
});
