/**
 * Issue 18: a command in ONE statement (CommandDef.oneStatement; the granted /daily). The statement
 * writes the effect, its action row with the result and the claim row together, guarded by what the
 * transaction protocol would have checked; whenever that guard, a race or a stale reading says no, it
 * must have written nothing and the transaction protocol decides as always. Real parallel connections.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DailyResult, LatestClaim } from '../../lib/besitos/daily.js';
import { claimDailyGift } from '../../lib/besitos/daily.js';
import { getBalance } from '../../lib/besitos/ledger.js';
import { dailyCommand } from '../../lib/commands/daily.js';
import { runCommand } from '../../lib/commands/index.js';
import { createDb } from '../../lib/db/client.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { AccountErased } from '../../lib/users/errors.js';
import { eraseUser } from '../../lib/users/privacy.js';
import { testDatabaseUrl, useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(24);
const TZ = 'America/Mexico_City';
const NONE: LatestClaim = { day: null, streak: 0 };

const at = (iso: string) => ({ kv: createMemoryStore(), clock: () => new Date(iso), timeZone: TZ, amount: 10 });

function run(userId: number, key: string, iso: string, latest: LatestClaim | null, person: string | null = null, pool = db) {
  return runCommand(pool, dailyCommand(at(iso), person, latest), { userId, idempotencyKey: key, params: {}, now: new Date(iso) });
}

/** Everything a daily gift writes, for one user. */
async function written(userId: number) {
  const [r] = await db<{ ledger: number; claims: number; actions: number; events: number; caps: number | null }[]>`
    SELECT (SELECT count(*)::int FROM transactions WHERE user_id = ${userId} AND source = 'daily') AS ledger,
           (SELECT count(*)::int FROM daily_claims WHERE user_id = ${userId}) AS claims,
           (SELECT count(*)::int FROM actions WHERE user_id = ${userId} AND name = 'daily') AS actions,
           (SELECT count(*)::int FROM outbox WHERE user_id = ${userId} AND type = 'gamification.besitos_earned') AS events,
           (SELECT max(day_grants)::int FROM besitos_caps WHERE subject = ${`user:${userId}`} AND source = 'daily') AS caps`;
  return r!;
}

/** A transaction that inserted an action row under `key` and commits when told. */
async function heldAction(userId: number, key: string, result: unknown) {
  const holder = createDb(testDatabaseUrl(), { max: 1 });
  let commit!: () => void;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const go = new Promise<void>((r) => (commit = r));
  const done = holder.begin(async (tx) => {
    await tx`INSERT INTO actions (user_id, name, idempotency_key, status, params, result, created_at)
             VALUES (${userId}, 'daily', ${key}, 'done', '{}', ${tx.json(result as never)}, now())`;
    ready();
    await go;
  });
  await readyP;
  return {
    async commit() {
      commit();
      await done;
      await holder.end({ timeout: 5 });
    },
  };
}

describe('commands in one statement: the granted /daily', () => {
  it('a granted /daily is one statement: ledger row, claim row, event and the done action with its result', async () => {
    const statements: string[] = [];
    const counted = createDb(testDatabaseUrl(), { max: 2, onQuery: (q) => statements.push(q) });
    try {
      const fast = await userWithBesitos(db);
      const slow = await userWithBesitos(db);
      const iso = '2026-06-10T18:00:00Z';
      await counted`SELECT 1`; // the driver's one-time type query on a new connection
      statements.length = 0;
      const a = await run(fast, `one:${randomUUID()}`, iso, NONE, null, counted);
      expect(statements, statements.join('\n')).toHaveLength(1);
      const b = await run(slow, `one:${randomUUID()}`, iso, null); // the transaction protocol, for comparison
      expect(a.replayed).toBe(false);
      expect(a.result).toEqual({ ...b.result, balance: 10 });
      expect(a.action).toMatchObject({ userId: fast, name: 'daily', status: 'done', params: {}, undoUntil: null });
      // The stored result is what the transaction protocol stores (read back as a replay reads it).
      const [fa, sa] = await db<{ result: DailyResult }[]>`SELECT result FROM actions WHERE user_id IN ${db([fast, slow])} ORDER BY user_id = ${fast} DESC`;
      expect(fa!.result).toEqual(sa!.result);
      expect(a.action.result).toEqual(fa!.result);
      expect(await written(fast)).toEqual({ ledger: 1, claims: 1, actions: 1, events: 1, caps: 1 });
      const [claim] = await db`SELECT streak, request_key, transaction_id IS NOT NULL AS linked FROM daily_claims WHERE user_id = ${fast}`;
      expect(claim).toMatchObject({ streak: 1, linked: true });
      expect(await ledgerMismatches(db, [fast, slow])).toEqual([]);
    } finally {
      await counted.end({ timeout: 5 });
    }
  });

  it('the streak comes from the state load’s reading; a stale reading writes nothing and the protocol counts it right', async () => {
    const u = await userWithBesitos(db);
    await claimDailyGift({ ...at('2026-06-10T18:00:00Z'), db }, u, `y:${randomUUID()}`);
    // Correct reading: yesterday's claim with streak 1 → streak 2, in one statement.
    const ok = await run(u, `t:${randomUUID()}`, '2026-06-11T18:00:00Z', { day: '2026-06-10', streak: 1 });
    expect(ok.result).toMatchObject({ status: 'granted', streak: 2, balance: 20 });
    // Stale reading (it missed yesterday's claim): the guard refuses, the protocol reads streak 2 → 3.
    const stale = await run(u, `t:${randomUUID()}`, '2026-06-12T18:00:00Z', NONE);
    expect(stale.result).toMatchObject({ status: 'granted', streak: 3, balance: 30 });
    // A wrong streak in the reading is refused the same way.
    const wrong = await run(u, `t:${randomUUID()}`, '2026-06-13T18:00:00Z', { day: '2026-06-12', streak: 7 });
    expect(wrong.result).toMatchObject({ status: 'granted', streak: 4, balance: 40 });
    const claims = await db<{ streak: number }[]>`SELECT streak FROM daily_claims WHERE user_id = ${u} ORDER BY day`;
    expect(claims.map((c) => c.streak)).toEqual([1, 2, 3, 4]);
    // The refused tries counted no grant against the cap (it would have refused the protocol's grant).
    expect(await written(u)).toMatchObject({ ledger: 4, claims: 4, actions: 3, events: 4, caps: 1 });
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('another account of the same person claimed today → "already claimed", nothing written for this one', async () => {
    const [a, b] = [await userWithBesitos(db), await userWithBesitos(db)];
    const person = `p-${randomUUID()}`;
    await db`UPDATE users SET person = ${person} WHERE id IN ${db([a, b])}`;
    const iso = '2026-06-20T18:00:00Z';
    expect((await run(a, `p:${randomUUID()}`, iso, NONE, person)).result).toMatchObject({ status: 'granted' });
    const other = await run(b, `p:${randomUUID()}`, iso, NONE, person);
    expect(other.result).toMatchObject({ status: 'already_claimed', balance: null });
    expect((await getBalance(db, b)).besitos).toBe(0);
    const [cap] = await db<{ day_grants: number }[]>`SELECT day_grants FROM besitos_caps WHERE subject = ${person} AND source = 'daily'`;
    expect(cap!.day_grants).toBe(1);
  });

  it('redelivered after the effect committed (the answer was lost): the stored result, nothing moves — also the next day', async () => {
    const u = await userWithBesitos(db);
    const key = `r:${randomUUID()}`;
    const first = await run(u, key, '2026-07-01T18:00:00Z', NONE);
    // The redelivery's reading may be the one from before (a stale state): the ledger key makes it a replay.
    const again = await run(u, key, '2026-07-01T19:00:00Z', NONE);
    expect(again.replayed).toBe(true);
    expect(again.result).toEqual(JSON.parse(JSON.stringify(first.result)));
    // Redelivered after midnight: today's gift is free, but this update already had its answer.
    const nextDay = await run(u, key, '2026-07-02T18:00:00Z', { day: '2026-07-01', streak: 1 });
    expect(nextDay.replayed).toBe(true);
    expect(nextDay.result).toMatchObject({ status: 'granted', streak: 1, day: '2026-07-01' });
    expect(await written(u)).toMatchObject({ ledger: 1, claims: 1, actions: 1, events: 1 });
    expect((await getBalance(db, u)).besitos).toBe(10);
  });

  it('a run with the same key commits while the statement runs → the statement fails whole (no grant without its action) and replays', async () => {
    const u = await userWithBesitos(db);
    const key = `h:${randomUUID()}`;
    const stored = { status: 'already_claimed', amount: 10, streak: 1, balance: null, nextClaimAt: '2026-07-11T06:00:00.000Z', day: '2026-07-10' };
    const held = await heldAction(u, key, stored);
    const pending = run(u, key, '2026-07-10T18:00:00Z', NONE);
    // The statement passes its guard (the held row is invisible to it), writes, then waits on the action's unique index.
    await new Promise((r) => setTimeout(r, 300));
    await held.commit();
    const r = await pending;
    expect(r.replayed).toBe(true);
    expect(r.result).toEqual(stored);
    expect(await written(u)).toMatchObject({ ledger: 0, claims: 0, actions: 1, events: 0 });
    expect((await getBalance(db, u)).besitos).toBe(0);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('an erased account: the statement writes nothing and the command fails as the protocol does (AccountErased)', async () => {
    const u = await userWithBesitos(db);
    const [row] = await db<{ telegram_id: number }[]>`SELECT telegram_id FROM users WHERE id = ${u}`;
    await eraseUser(db, createMemoryStore(), { userId: u, telegramId: Number(row!.telegram_id) });
    await expect(run(u, `e:${randomUUID()}`, '2026-07-20T18:00:00Z', NONE)).rejects.toBeInstanceOf(AccountErased);
    expect(await written(u)).toMatchObject({ ledger: 0, claims: 0, actions: 0, events: 0 });
  });

  it('/borrar racing 10 /daily of the same account: each gift either committed before the erasure (and is blanked) or wrote nothing', async () => {
    const u = await userWithBesitos(db);
    const [row] = await db<{ telegram_id: number }[]>`SELECT telegram_id FROM users WHERE id = ${u}`;
    const iso = '2026-07-25T18:00:00Z';
    const runs = Array.from({ length: 10 }, () => run(u, `b:${randomUUID()}`, iso, NONE).then((x) => x.result!, (err) => err as Error));
    await eraseUser(db, createMemoryStore(), { userId: u, telegramId: Number(row!.telegram_id) });
    const results = await Promise.all(runs);
    for (const r of results) if (r instanceof Error) expect(r).toBeInstanceOf(AccountErased);
    const granted = results.filter((r) => !(r instanceof Error) && r.status === 'granted');
    const w = await written(u);
    expect(granted.length).toBeLessThanOrEqual(1);
    expect(w.ledger).toBe(granted.length);
    expect(w.claims).toBe(granted.length);
    // Every action that committed did so before the erasure: its details are blanked.
    const kept = await db`SELECT 1 FROM actions WHERE user_id = ${u} AND (result IS NOT NULL OR params <> '{}')`;
    expect(kept).toHaveLength(0);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('20 concurrent /daily of one user (distinct updates, real connections) → one grant, 19 "already claimed"; money once', async () => {
    const u = await userWithBesitos(db);
    const iso = '2026-08-01T18:00:00Z';
    const results = await Promise.all(Array.from({ length: 20 }, () => run(u, `c:${randomUUID()}`, iso, NONE)));
    expect(results.filter((r) => r.result!.status === 'granted')).toHaveLength(1);
    expect(results.filter((r) => r.result!.status === 'already_claimed')).toHaveLength(19);
    expect(await written(u)).toMatchObject({ ledger: 1, claims: 1, actions: 20, events: 1, caps: 1 });
    expect((await getBalance(db, u)).besitos).toBe(10);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('10 concurrent runs of the same update (redeliveries racing) → one grant, all with the same result', async () => {
    const u = await userWithBesitos(db);
    const key = `s:${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 10 }, () => run(u, key, '2026-08-02T18:00:00Z', NONE)));
    const stored = JSON.parse(JSON.stringify(results.find((r) => !r.replayed)!.result));
    for (const r of results) expect(JSON.parse(JSON.stringify(r.result))).toEqual(stored);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(stored).toMatchObject({ status: 'granted', balance: 10 });
    expect(await written(u)).toMatchObject({ ledger: 1, claims: 1, actions: 1, events: 1 });
  });
});
