/**
 * Anomaly detection on real Postgres: a simulated population of 1,000 users over 8 days with one
 * planted trivia farmer → the farmer is flagged and nobody else; running it again changes nothing;
 * impossible patterns (two daily gifts in a day, grants no action explains) are flagged for exactly
 * the users who have them.
 */
import { describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { detectAnomalies, runAnomalyDetection } from '../../lib/economy/anomalies.js';
import { rollbackSourceWindow } from '../../lib/besitos/rollback.js';
import { simulateEconomy } from '../../lib/economy/simulate.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';

const db = useTestDb(10);
const TZ = 'America/Mexico_City';
const now = new Date();
const sim = await simulateEconomy(db, { users: 1_000, days: 8, now, timeZone: TZ, seed: 7, farmer: true });

describe('anomaly detection over a simulated population', () => {
  it('the simulation is a sound ledger with a plausible economy', async () => {
    expect(sim.userIds).toHaveLength(1_000);
    expect(sim.transactions).toBeGreaterThan(10_000);
    expect(await ledgerMismatches(db, sim.userIds)).toEqual([]);
  });

  it('flags the planted farmer (trivia and overall) and no normal user', async () => {
    const r = await runAnomalyDetection(db, { now, timeZone: TZ });
    expect(r.population).toBeGreaterThan(900);
    const flagged = new Set(r.flags.map((f) => f.userId));
    expect([...flagged]).toEqual([sim.farmerId]);
    const kinds = r.flags.map((f) => `${f.kind}:${f.source}`).sort();
    expect(kinds).toEqual(['outlier:*', 'outlier:trivia']);
    const trivia = r.flags.find((f) => f.source === 'trivia')!;
    expect(trivia.score).toBeGreaterThan(10);
    expect(trivia.detail.per_day as number).toBeGreaterThanOrEqual(140);
    expect(r.created).toHaveLength(2);
  });

  it('run twice: the same flags, none new, the evidence refreshed', async () => {
    const before = await db`SELECT id, user_id, kind, source, window_key FROM economy_flags ORDER BY id`;
    const again = await runAnomalyDetection(db, { now: new Date(now.getTime() + 60_000), timeZone: TZ });
    expect(again.created).toEqual([]);
    expect(again.updated).toBe(2);
    const after = await db`SELECT id, user_id, kind, source, window_key FROM economy_flags ORDER BY id`;
    expect(after).toEqual(before);
  });

  it('flags impossible patterns: two daily gifts in one day, grants with no matching action', async () => {
    const [a, b] = [sim.userIds[10]!, sim.userIds[11]!];
    // a bug granted user a second daily gift today (no daily_claims row proves it)
    await grantBesitos(db, { userId: a, amount: 10, source: 'daily', idempotencyKey: `bug:daily:${a}` });
    // and a trivia reward to b without the trivia command that pays it
    await grantBesitos(db, { userId: b, amount: 5, source: 'trivia', idempotencyKey: `bug:trivia:${b}` });
    const r = await detectAnomalies(db, { now: new Date(), timeZone: TZ });
    const impossible = r.flags.filter((f) => f.kind !== 'outlier').map((f) => `${f.userId === a ? 'a' : f.userId === b ? 'b' : f.userId}:${f.kind}:${f.source}`);
    // a's second gift today is over the cap only if a had claimed today already
    const [claimedToday] = await db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM transactions
       WHERE user_id = ${a} AND source = 'daily' AND (created_at AT TIME ZONE ${TZ})::date = (now() AT TIME ZONE ${TZ})::date`;
    const expected = ['a:unmatched:daily', 'b:unmatched:trivia', ...(claimedToday!.n > 1 ? ['a:over_cap:daily'] : [])].sort();
    expect(impossible.sort()).toEqual(expected);
    const unmatched = r.flags.find((f) => f.userId === b && f.kind === 'unmatched')!;
    expect(unmatched.detail.grants).toBe(1);
  });

  it('a rolled-back grant is no longer evidence', async () => {
    const [action] = await db<{ id: number }[]>`
      INSERT INTO actions (user_id, name, idempotency_key, status) VALUES (${sim.userIds[0]!}, 'economy.rollback', ${`t:${Date.now()}`}, 'done') RETURNING id`;
    const out = await db.begin((tx) =>
      rollbackSourceWindow(tx, { actionId: action!.id, reason: 'prueba', source: 'trivia', from: new Date(now.getTime() - 9 * 86_400_000), to: new Date(Date.now() + 1000) }),
    );
    expect(out.rolledBack).toBeGreaterThan(1_000);
    const r = await detectAnomalies(db, { now: new Date(), timeZone: TZ });
    expect(r.flags.filter((f) => f.source === 'trivia')).toEqual([]);
    expect(await ledgerMismatches(db, sim.userIds)).toEqual([]);
  });
});
