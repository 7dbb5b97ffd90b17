import { describe, expect, it } from 'vitest';
import { capUsage, getBalance, grantBesitos, spendBesitos } from '../../lib/besitos/ledger.js';
import { CapReached } from '../../lib/besitos/errors.js';
import { capReachedText, economyPolicy, economyPolicySchema, UnknownSource } from '../../lib/besitos/policy.js';
import { startOfLocalDay } from '../../lib/time/zone.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(60);
const tz = 'America/Mexico_City';
// Thursday 26 Nov 2026, 12:00 in Mexico City (UTC−6).
const noon = new Date('2026-11-26T18:00:00Z');
const at = (iso: string) => new Date(iso);

describe('economy policy', () => {
  it('is valid and names every source the seed lists, with the caps of §4.1', () => {
    for (const s of ['daily', 'mission', 'trivia', 'reaction', 'achievement', 'referral', 'story', 'admin', 'event'])
      expect(economyPolicy.sources[s], s).toBeDefined();
    for (const s of ['shop', 'auction', 'tax', 'expire', 'gift']) expect(economyPolicy.sinks[s], s).toBeDefined();
    expect(economyPolicy.sources.reaction!.caps.day).toEqual({ grants: 3, besitos: 6 });
    expect(economyPolicy.bonus.expireDays).toBe(30);
  });

  it('rejects a policy with a cap without a limit or a warning longer than the expiry', () => {
    const base = { sources: { a: { label: 'A' } }, sinks: { b: { label: 'B' } }, bonus: { expireDays: 30, warnDaysBefore: 3 } };
    expect(economyPolicySchema.safeParse(base).success).toBe(true);
    expect(economyPolicySchema.safeParse({ ...base, sources: { a: { label: 'A', caps: { day: {} } } } }).success).toBe(false);
    expect(economyPolicySchema.safeParse({ ...base, bonus: { expireDays: 3, warnDaysBefore: 3 } }).success).toBe(false);
    expect(economyPolicySchema.safeParse({ ...base, sources: { 'Mal nombre': { label: 'x' } } }).success).toBe(false);
  });

  it('refuses a grant from an unknown source and a spend to an unknown sink, writing nothing', async () => {
    const u = await userWithBesitos(db, 5);
    await expect(grantBesitos(db, { userId: u, amount: 1, source: 'bench', idempotencyKey: `src:${u}` })).rejects.toBeInstanceOf(UnknownSource);
    await expect(spendBesitos(db, { userId: u, amount: 1, source: 'casino', idempotencyKey: `snk:${u}` })).rejects.toBeInstanceOf(UnknownSource);
    expect((await getBalance(db, u)).besitos).toBe(5);
  });
});

describe('caps per source (real Postgres)', () => {
  it('refuses the grant over the daily cap with a reason, never clipping it, and opens again the next local day', async () => {
    const u = await userWithBesitos(db);
    const g = (n: number, amount: number, now: Date) =>
      grantBesitos(db, { userId: u, amount, source: 'reaction', idempotencyKey: `r:${u}:${n}`, now, timeZone: tz });
    for (let i = 0; i < 3; i++) await g(i, 2, noon);
    const err = await g(3, 2, noon).catch((e) => e);
    expect(err).toBeInstanceOf(CapReached);
    expect(err).toMatchObject({ source: 'reaction', period: 'day', unit: 'grants', limit: 3, used: 3 });
    expect(err.resetsAt).toEqual(startOfLocalDay('2026-11-27', tz));
    expect(capReachedText(err, tz, noon)).toBe(
      'Ya alcanzaste el máximo de hoy en reacciones (3 veces al día). Vuelve a intentarlo mañana a las 00:00.',
    );
    expect((await getBalance(db, u)).besitos).toBe(6);
    // 23:59 local is still the same day; 00:00 local the next (UTC 06:00).
    await expect(g(4, 2, at('2026-11-27T05:59:00Z'))).rejects.toBeInstanceOf(CapReached);
    await g(5, 2, at('2026-11-27T06:00:00Z'));
    expect((await getBalance(db, u)).besitos).toBe(8);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('refuses a grant bigger than what is left of a besitos cap (no partial grant)', async () => {
    const u = await userWithBesitos(db);
    await grantBesitos(db, { userId: u, amount: 140, source: 'trivia', idempotencyKey: `t:${u}:1`, now: noon, timeZone: tz });
    const err = await grantBesitos(db, { userId: u, amount: 15, source: 'trivia', idempotencyKey: `t:${u}:2`, now: noon, timeZone: tz }).catch((e) => e);
    expect(err).toMatchObject({ name: 'CapReached', unit: 'besitos', limit: 150, used: 140 });
    await grantBesitos(db, { userId: u, amount: 10, source: 'trivia', idempotencyKey: `t:${u}:3`, now: noon, timeZone: tz });
    expect((await getBalance(db, u)).besitos).toBe(150);
    const first = await grantBesitos(db, { userId: u, amount: 151, source: 'trivia', idempotencyKey: `t:${u}:4`, now: at('2026-11-28T18:00:00Z'), timeZone: tz }).catch((e) => e);
    expect(first).toBeInstanceOf(CapReached); // even as the first grant of a new day
  });

  it('weekly caps count Monday to Sunday in the local zone and say when they open', async () => {
    const u = await userWithBesitos(db);
    // Missions: 200 a day, 600 a week. Mon 23 .. Wed 25 Nov: 3 × 200 = 600.
    let k = 0;
    for (const day of ['23', '24', '25'])
      for (let i = 0; i < 4; i++)
        await grantBesitos(db, { userId: u, amount: 50, source: 'mission', idempotencyKey: `m:${u}:${k++}`, now: at(`2026-11-${day}T18:00:00Z`), timeZone: tz });
    const err = await grantBesitos(db, { userId: u, amount: 20, source: 'mission', idempotencyKey: `m:${u}:x`, now: noon, timeZone: tz }).catch((e) => e);
    expect(err).toMatchObject({ period: 'week', unit: 'besitos', limit: 600, used: 600 });
    expect(err.resetsAt).toEqual(startOfLocalDay('2026-11-30', tz));
    expect(capReachedText(err, tz, noon)).toMatch(/^Ya alcanzaste el máximo de esta semana en misiones \(600 besitos a la semana\)\. Vuelve a intentarlo el lunes 30 de noviembre/);
    // Sunday 29 23:00 local: still that week. Monday 30 00:00 local: a new one.
    await expect(grantBesitos(db, { userId: u, amount: 20, source: 'mission', idempotencyKey: `m:${u}:y`, now: at('2026-11-30T05:00:00Z'), timeZone: tz })).rejects.toBeInstanceOf(CapReached);
    await grantBesitos(db, { userId: u, amount: 20, source: 'mission', idempotencyKey: `m:${u}:z`, now: at('2026-11-30T06:00:00Z'), timeZone: tz });
    const usage = await capUsage(db, { userId: u, source: 'mission', now: at('2026-11-30T06:00:00Z'), timeZone: tz });
    expect(usage).toMatchObject({ day: { besitos: 20, grants: 1 }, week: { besitos: 20, grants: 1 }, besitosLeft: 180 });
  });

  it('a source named family:detail is of its family and shares its cap (reaction:post:1, reaction:post:2)', async () => {
    const u = await userWithBesitos(db);
    for (let i = 0; i < 3; i++)
      await grantBesitos(db, { userId: u, amount: 2, source: `reaction:post:${i}`, idempotencyKey: `fam:${u}:${i}`, now: noon, timeZone: tz });
    const err = await grantBesitos(db, { userId: u, amount: 2, source: 'reaction:post:9', idempotencyKey: `fam:${u}:9`, now: noon, timeZone: tz }).catch((e) => e);
    expect(err).toMatchObject({ name: 'CapReached', source: 'reaction' });
    await expect(grantBesitos(db, { userId: u, amount: 2, source: 'nope:post', idempotencyKey: `fam:${u}:x` })).rejects.toBeInstanceOf(UnknownSource);
  });

  it('a replay of a granted key answers the first result even when the cap is now full', async () => {
    const u = await userWithBesitos(db);
    const p = { userId: u, amount: 2, source: 'reaction', now: noon, timeZone: tz };
    const first = await grantBesitos(db, { ...p, idempotencyKey: `rp:${u}:0` });
    for (let i = 1; i < 3; i++) await grantBesitos(db, { ...p, idempotencyKey: `rp:${u}:${i}` });
    const again = await grantBesitos(db, { ...p, idempotencyKey: `rp:${u}:0` });
    expect(again).toMatchObject({ replayed: true, entry: { id: first.entry.id } });
    expect((await capUsage(db, { userId: u, source: 'reaction', now: noon, timeZone: tz })).day.grants).toBe(3);
  });

  it('counts per person when the pseudonym is given: a new account of the same person (after /borrar) gets no fresh cap', async () => {
    const a = await userWithBesitos(db);
    const b = await userWithBesitos(db);
    const person = `p-${a}-${b}`;
    const g = (u: number, n: number) => grantBesitos(db, { userId: u, amount: 2, source: 'reaction', idempotencyKey: `pp:${u}:${n}`, person, now: noon, timeZone: tz });
    await g(a, 0);
    await g(a, 1);
    await g(b, 2);
    await expect(g(b, 3)).rejects.toBeInstanceOf(CapReached);
    // Someone else is not affected.
    const c = await userWithBesitos(db);
    await grantBesitos(db, { userId: c, amount: 2, source: 'reaction', idempotencyKey: `pp:${c}`, person: `other-${c}`, now: noon, timeZone: tz });
  });

  it("without the pseudonym, counts in the account's (users.person): a subscriber's grant and a new account of the same person share one counter", async () => {
    const a = await userWithBesitos(db);
    const b = await userWithBesitos(db);
    const person = `acct-${a}-${b}`;
    await db`UPDATE users SET person = ${person} WHERE id IN ${db([a, b])}`;
    const g = (u: number, n: number, p?: string) => grantBesitos(db, { userId: u, amount: 2, source: 'reaction', idempotencyKey: `ap:${u}:${n}`, person: p, now: noon, timeZone: tz });
    await g(a, 0); // a bus subscriber's grant: no person passed
    await g(b, 1, person); // the webhook's, with ctx.state.person
    await g(b, 2);
    const err = await g(a, 3).catch((e) => e);
    expect(err).toMatchObject({ name: 'CapReached', used: 3 });
    expect((await capUsage(db, { userId: b, source: 'reaction', now: noon, timeZone: tz })).day.grants).toBe(3);
    const rows = await db<{ subject: string }[]>`SELECT subject FROM besitos_caps WHERE subject IN ${db([person, `user:${a}`, `user:${b}`])}`;
    expect(rows.map((r) => r.subject)).toEqual([person]);
    // An account with no pseudonym yet still counts on its own.
    const c = await userWithBesitos(db);
    await g(c, 4);
    expect((await db`SELECT 1 FROM besitos_caps WHERE subject = ${`user:${c}`}`).length).toBe(1);
  });

  it('a refused grant inside a transaction leaves the transaction usable (the caller tells the user and goes on)', async () => {
    const u = await userWithBesitos(db);
    await db.begin(async (tx) => {
      for (let i = 0; i < 3; i++) await grantBesitos(tx, { userId: u, amount: 2, source: 'reaction', idempotencyKey: `tx:${u}:${i}`, now: noon, timeZone: tz });
      await expect(grantBesitos(tx, { userId: u, amount: 2, source: 'reaction', idempotencyKey: `tx:${u}:3`, now: noon, timeZone: tz })).rejects.toBeInstanceOf(CapReached);
      await grantBesitos(tx, { userId: u, amount: 5, source: 'admin', idempotencyKey: `tx:${u}:admin` });
    });
    expect((await getBalance(db, u)).besitos).toBe(11);
  });

  it('50 concurrent grants at the cap edge: exactly the cap is granted, every other one refused with CapReached', async () => {
    const u = await userWithBesitos(db);
    // Trivia: 150 besitos a day. 140 already; 50 concurrent grants of 1 (15 grants a day max: use story, 300/day).
    await grantBesitos(db, { userId: u, amount: 95, source: 'story', idempotencyKey: `edge:${u}:seed`, now: noon, timeZone: tz });
    // 300 − 95 = 205 left: 50 grants of 5 = 250 asked, exactly 41 fit (205 / 5).
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        grantBesitos(db, { userId: u, amount: 5, source: 'story', idempotencyKey: `edge:${u}:${i}`, now: noon, timeZone: tz }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof CapReached).length;
    expect(ok).toBe(41);
    expect(refused).toBe(9);
    expect((await getBalance(db, u)).besitos).toBe(300);
    expect((await capUsage(db, { userId: u, source: 'story', now: noon, timeZone: tz })).day.besitos).toBe(300);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('50 concurrent grants where the week cap binds before the day cap, on a new day: exactly what the week leaves', async () => {
    const u = await userWithBesitos(db);
    // Referrals: 5 grants a day, 15 a week. Mon–Wed: 4 + 4 + 4 = 12; Thursday 50 at once: 3 fit (week), not 5 (day).
    let k = 0;
    for (const day of ['23', '24', '25'])
      for (let i = 0; i < 4; i++)
        await grantBesitos(db, { userId: u, amount: 10, source: 'referral', idempotencyKey: `wk:${u}:${k++}`, now: at(`2026-11-${day}T18:00:00Z`), timeZone: tz });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => grantBesitos(db, { userId: u, amount: 10, source: 'referral', idempotencyKey: `wk:${u}:t${i}`, now: noon, timeZone: tz })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(refusals).toHaveLength(47);
    for (const e of refusals) expect(e).toMatchObject({ name: 'CapReached', period: 'week', unit: 'grants', limit: 15 });
    expect(await capUsage(db, { userId: u, source: 'referral', now: noon, timeZone: tz })).toMatchObject({ day: { grants: 3 }, week: { grants: 15 }, grantsLeft: 0 });
    expect((await getBalance(db, u)).besitos).toBe(150);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('50 concurrent grants with a count cap, mixed with replays of the same keys: exactly the cap', async () => {
    const u = await userWithBesitos(db);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        grantBesitos(db, { userId: u, amount: 2, source: 'reaction', idempotencyKey: `cc:${u}:${i % 10}`, now: noon, timeZone: tz }),
      ),
    );
    const granted = new Set(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.entry.id] : [])));
    expect(granted.size).toBe(3);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(CapReached);
    expect((await getBalance(db, u)).besitos).toBe(6);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });
});
