import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createEvent } from '../../lib/bus/events.js';
import { processEvent, type ProcessDeps } from '../../lib/bus/receive.js';
import { AlreadyRewarded } from '../../lib/besitos/errors.js';
import { alreadyRewardedText, claimFirstTime } from '../../lib/besitos/first-time.js';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { silentLogger } from '../../lib/log.js';
import { fixedCatalogue, parseCatalogue } from '../../lib/gamification/content.js';
import { createGamificationSubscriber } from '../../lib/gamification/subscriber.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

/**
 * First-time rewards once per person (lib/besitos/first-time.ts), on parallel connections: two accounts
 * of one person (an erased one's work in flight and the new one, as far as the ledger can tell) racing
 * for the same reward are paid once, and a completing event delivered again pays nothing more.
 */
const db = useTestDb(24);
const TZ = 'America/Mexico_City';
const ROUNDS = 20;

/** Two accounts of one person (as after /borrar and coming back: the same users.person). */
async function twoAccounts(): Promise<{ person: string; a: number; b: number }> {
  const [a, b] = [await userWithBesitos(db), await userWithBesitos(db)];
  const person = `p-${randomUUID()}`;
  await db`UPDATE users SET person = ${person} WHERE id IN ${db([a, b])}`;
  return { person, a, b };
}

const catalogue = parseCatalogue({
  achievements: [{ key: 'first', title: 'Primer paso', description: 'D', rarity: 'common', requirement: { fact: 'fragment_completed', count: 1 }, reward: { item: 'marco' } }],
  items: [{ key: 'marco', name: 'Marco dorado', description: 'D', category: 'cosmetic', rarity: 'common', price: 80 }],
});
const deps: ProcessDeps = { db, log: silentLogger, timeZone: TZ, handlers: { gamification: createGamificationSubscriber({ catalogue: fixedCatalogue(catalogue) }) } };
const deliver = (body: string) => processEvent(deps, 'gamification', body);
const fragment = (userId: number) => JSON.stringify(createEvent('narrative.fragment_completed', { fragment_key: 'prologo', level: 1, besitos_awarded: 0 }, userId, new Date()));

async function paid(ids: number[], source: string) {
  return db<{ user_id: number; n: number; s: number }[]>`
    SELECT user_id, count(*)::int AS n, sum(amount)::int AS s FROM transactions WHERE user_id IN ${db(ids)} AND source = ${source} GROUP BY user_id`;
}

describe('first-time rewards: once per person under concurrency', () => {
  it(`${ROUNDS} rounds, all at once: two accounts of a person grant the same reward twice each — one account is paid once, the other refused`, async () => {
    const rounds = await Promise.all(Array.from({ length: ROUNDS }, () => twoAccounts()));
    const outcomes = await Promise.all(
      rounds.map(({ a, b }) =>
        Promise.allSettled(
          [a, b, a, b].map((u) =>
            grantBesitos(db, { userId: u, amount: 50, source: 'achievement', idempotencyKey: `race:${u}`, firstTime: 'achievement:race', now: new Date(), timeZone: TZ }),
          ),
        ),
      ),
    );
    for (const [i, { a, b, person }] of rounds.entries()) {
      const rows = await paid([a, b], 'achievement');
      expect(rows, `round ${i}`).toHaveLength(1);
      expect(rows[0]).toMatchObject({ n: 1, s: 50 });
      const winner = Number(rows[0]!.user_id);
      const loser = winner === a ? b : a;
      const results = outcomes[i]!;
      // The winner's second call is a replay of its first; both of the other account's calls are refused.
      const byUser = (u: number) => results.filter((_, j) => [a, b, a, b][j] === u);
      expect(byUser(winner).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(byUser(loser).every((r) => r.status === 'rejected' && r.reason instanceof AlreadyRewarded)).toBe(true);
      const claimed = await db<{ user_id: number }[]>`SELECT user_id FROM person_rewards WHERE person = ${person}`;
      expect(claimed.map((r) => Number(r.user_id))).toEqual([winner]);
      const [cap] = await db<{ day_grants: number }[]>`SELECT day_grants FROM besitos_caps WHERE subject = ${person} AND source = 'achievement'`;
      expect(cap!.day_grants, 'a refused grant counts in no cap').toBe(1);
    }
    expect(await ledgerMismatches(db, rounds.flatMap((r) => [r.a, r.b]))).toEqual([]);
  });

  it(`the gamification subscriber, ${ROUNDS} rounds at once: both accounts unlock, one is paid (besitos and item), each completing event delivered twice and once more under a new id pays nothing extra`, async () => {
    const rounds = await Promise.all(Array.from({ length: ROUNDS }, () => twoAccounts()));
    await Promise.all(
      rounds.flatMap(({ a, b }) => {
        const [ea, eb] = [fragment(a), fragment(b)];
        // The same event twice (processed_events absorbs one) and a copy that slipped past it (new event id).
        const copy = (e: string) => JSON.stringify({ ...JSON.parse(e), event_id: randomUUID() });
        return [ea, eb, ea, eb, copy(ea), copy(eb)].map(deliver);
      }),
    );
    for (const [i, { a, b }] of rounds.entries()) {
      const rows = await paid([a, b], 'achievement');
      expect(rows, `round ${i}`).toHaveLength(1);
      expect(rows[0]).toMatchObject({ n: 1, s: 50 });
      const winner = Number(rows[0]!.user_id);
      const loser = winner === a ? b : a;
      const items = await db<{ user_id: number; quantity: number }[]>`SELECT user_id, quantity FROM user_inventory WHERE user_id IN ${db([a, b])} AND item_key = 'marco'`;
      expect(items.map((r) => [Number(r.user_id), r.quantity])).toEqual([[winner, 1]]);
      const unlocked = await db`SELECT user_id FROM user_achievements WHERE user_id IN ${db([a, b])} AND achievement_key = 'first' AND unlocked_at IS NOT NULL`;
      expect(unlocked).toHaveLength(2);
      // The other account's congratulation says why nothing came.
      const [notice] = await db<{ payload: { reward_besitos: number; capped?: string } }[]>`
        SELECT payload FROM scheduled_jobs WHERE kind = 'gamification.notice' AND (payload->>'user_id')::bigint = ${loser}`;
      expect(notice!.payload).toMatchObject({ reward_besitos: 0, capped: alreadyRewardedText() });
    }
    expect(await ledgerMismatches(db, rounds.flatMap((r) => [r.a, r.b]))).toEqual([]);
  });

  it('a reward of items only is claimed per person too; an account without a pseudonym is not limited', async () => {
    const { a, b } = await twoAccounts();
    const claims = await Promise.all([a, b, a, b].map((u) => claimFirstTime(db, { userId: u, reward: 'mission:only-items:once' })));
    // Both of one account's claims hold, none of the other's.
    expect([claims[0] === claims[2], claims[1] === claims[3], claims[0] !== claims[1]]).toEqual([true, true, true]);
    const loner = await userWithBesitos(db);
    expect(await claimFirstTime(db, { userId: loner, reward: 'mission:only-items:once' })).toBe(true);
    await grantBesitos(db, { userId: loner, amount: 5, source: 'trivia', idempotencyKey: `loner:${loner}`, firstTime: 'trivia:x' });
    expect(await db`SELECT 1 FROM person_rewards WHERE user_id = ${loner}`).toHaveLength(0);
  });
});
