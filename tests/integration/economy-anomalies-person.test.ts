/**
 * Caps count per person (users.person, sql/190: the ledger's cap subject), so the "more than a cap
 * allows" check does too: two accounts of one person that pass a cap together are a breach, flagged on
 * the account whose grants came after the person's cap was full; an account whose grants the person was
 * allowed is not flagged. Grants are written straight into the ledger as a bug or a direct write would.
 */
import { describe, expect, it } from 'vitest';
import type { Sql } from '../../lib/db/client.js';
import { detectAnomalies, runAnomalyDetection } from '../../lib/economy/anomalies.js';
import { flagLine } from '../../lib/economy/texts.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(5);
const TZ = 'America/Mexico_City';
// Wednesday 25 November 2026 local; detection that night at 23:00 local.
const at = (hhmm: string) => new Date(`2026-11-25T${hhmm}:00-06:00`);
const night = new Date('2026-11-26T05:00:00Z');

/** Reaction grants (2 besitos, cap 3 a day per person) at the given local times, keeping balance = Σ transactions. */
async function plant(q: Sql, userId: number, times: string[], source = 'reaction:post:1'): Promise<void> {
  await q.begin(async (tx) => {
    const [b] = await tx<{ besitos: number }[]>`SELECT besitos FROM user_balances WHERE user_id = ${userId} FOR UPDATE`;
    let balance = Number(b!.besitos);
    for (const [i, t] of times.entries()) {
      balance += 2;
      await tx`
        INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key, created_at)
        VALUES (${userId}, 2, 'grant', ${source}, ${balance}, ${`plant:${userId}:${i}:${t}`}, ${at(t)})`;
    }
    await tx`UPDATE user_balances SET besitos = ${balance}, lifetime_besitos = lifetime_besitos + ${times.length * 2} WHERE user_id = ${userId}`;
  });
}

async function account(person: string | null): Promise<number> {
  const id = await userWithBesitos(db);
  await db`UPDATE users SET person = ${person} WHERE id = ${id}`;
  return id;
}

// P: two accounts, 2 + 2 reactions the same day → 4 > 3; B's second is past the cap (A's and B's first were allowed).
const a = await account('P-person');
const b = await account('P-person');
await plant(db, a, ['09:00', '10:00']);
await plant(db, b, ['11:00', '12:00']);
// Q: the first account used the whole cap, the second one (after /borrar, say) got nothing more → no breach.
const q1 = await account('Q-person');
const q2 = await account('Q-person');
await plant(db, q1, ['09:00', '09:30', '10:00']);
// R: 1 + 2 across two accounts = the cap exactly → no breach, although each account alone would be fine too.
const r1 = await account('R-person');
const r2 = await account('R-person');
await plant(db, r1, ['08:00']);
await plant(db, r2, ['13:00', '14:00']);
// S, T: different persons at the cap each → no breach; and two accounts without a person, each at the cap, are two subjects.
const s = await account('S-person');
const t = await account('T-person');
const u1 = await account(null);
const u2 = await account(null);
for (const id of [s, t, u1, u2]) await plant(db, id, ['15:00', '16:00', '17:00']);
// V: one account with no person yet, over the cap on its own → flagged as before.
const v = await account(null);
await plant(db, v, ['18:00', '18:10', '18:20', '18:30']);

const overCap = async () => (await detectAnomalies(db, { now: night, timeZone: TZ })).flags.filter((f) => f.kind === 'over_cap');

describe('over-cap anomalies count per person, as the ledger does', () => {
  it('the planted ledger is sound', async () => {
    expect(await ledgerMismatches(db, [a, b, q1, q2, r1, r2, s, t, u1, u2, v])).toEqual([]);
  });

  it('two accounts of one person over a cap together: the account past the cap is flagged, with both accounts as evidence', async () => {
    const flags = await overCap();
    expect(flags.map((f) => f.userId).sort((x, y) => x - y)).toEqual([b, v].sort((x, y) => x - y));
    const fb = flags.find((f) => f.userId === b)!;
    expect(fb).toMatchObject({ source: 'reaction', windowKey: 'semana:2026-11-23', amount: 8 });
    const [p] = fb.detail.periods as { period: string; key: string; grants: number; besitos: number; over: unknown; accounts: unknown }[];
    expect(p).toMatchObject({ period: 'day', key: '2026-11-25', grants: 4, besitos: 8, over: { grants: 1, besitos: 2 } });
    expect(p!.accounts).toEqual([
      { user_id: a, grants: 2, besitos: 4 },
      { user_id: b, grants: 2, besitos: 4 },
    ]);
    // A single account's breach carries no account list.
    const fv = flags.find((f) => f.userId === v)!;
    expect((fv.detail.periods as { accounts?: unknown; over: unknown }[])[0]).toMatchObject({ grants: 4, over: { grants: 1, besitos: 2 } });
    expect((fv.detail.periods as { accounts?: unknown }[])[0]!.accounts).toBeUndefined();
  });

  it('the admins read that the accounts belong to one person', async () => {
    const run = await runAnomalyDetection(db, { now: night, timeZone: TZ });
    const row = run.created.find((f) => f.userId === b && f.kind === 'over_cap')!;
    expect(flagLine(row, '@b')).toContain('el 2026-11-25: 4 concesión(es), 8 besitos entre 2 cuentas de la misma persona');
  });

  it('an account whose grants the person was allowed is never flagged, whichever account came later', async () => {
    const flagged = new Set((await overCap()).map((f) => f.userId));
    for (const id of [a, q1, q2, r1, r2, s, t, u1, u2]) expect(flagged.has(id), `account ${id}`).toBe(false);
  });

  it('the grant past the cap rolled back: the person is within the cap again, nobody flagged', async () => {
    const [last] = await db<{ id: string; amount: number }[]>`SELECT id, amount FROM transactions WHERE user_id = ${b} AND type = 'grant' ORDER BY created_at DESC LIMIT 1`;
    await db.begin(async (tx) => {
      const [bal] = await tx<{ besitos: number }[]>`UPDATE user_balances SET besitos = besitos - 2 WHERE user_id = ${b} RETURNING besitos`;
      await tx`INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key, reverses)
               VALUES (${b}, -2, 'reversal', 'reaction:post:1', ${bal!.besitos}, ${`rev:${last!.id}`}, ${last!.id})`;
    });
    expect((await overCap()).map((f) => f.userId)).toEqual([v]);
    expect(await ledgerMismatches(db, [b])).toEqual([]);
  });
});
