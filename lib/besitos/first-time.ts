import type { Queryable } from '../db/client.js';

/**
 * First-time rewards, once per person (issue 16/23): an achievement, a mission of a period, a story
 * reward, a trivia question, a reaction to a post pay the person who earned them once, whatever
 * account they use — /borrar and coming back is the same person (users.person, the abuse pseudonym:
 * sql/190). `person_rewards` (sql/191) holds one row per person and reward key, written in the same
 * transaction as the payment: inside the ledger's grant statement when the grant names `firstTime`
 * (no extra round trip), or by claimFirstTime for a reward of items only. Another account of the
 * same person finds the row and is refused (AlreadyRewarded); the same account passes (its own
 * idempotency keys keep it exact). Two accounts racing: the second insert waits on the first's row
 * and sees it once committed. An account without a pseudonym (none since sql/190) is not limited here.
 * A reward refused by a cap still counts as given: for the account itself it is never paid later either.
 */

/** Statement parts (after an `existing` CTE: no claim on a replay): `first` has a row when this account may take the reward. */
export function firstTimeCte(db: Queryable, p: { userId: number; person?: string | null; reward: string; afterBalanceLock?: boolean }) {
  // In a grant, after the balance row's lock (a `bal` CTE), as every ledger write: same lock order for all.
  const after = p.afterBalanceLock ? db`AND EXISTS (SELECT 1 FROM bal)` : db``;
  return db`who AS (
        SELECT COALESCE(${p.person ?? null}::text, (SELECT person FROM users WHERE id = ${p.userId})) AS person
      ), first AS (
        INSERT INTO person_rewards AS r (person, reward, user_id)
        SELECT who.person, ${p.reward}, ${p.userId} FROM who WHERE who.person IS NOT NULL AND NOT EXISTS (SELECT 1 FROM existing) ${after}
        ON CONFLICT (person, reward) DO UPDATE SET user_id = r.user_id WHERE r.user_id = excluded.user_id
        RETURNING 1
      ), `;
}

/** True when the claim lets the grant go on (claimed, by this account, or nothing to limit by). */
export function firstTimeOk(db: Queryable) {
  return db`(EXISTS (SELECT 1 FROM first) OR (SELECT person FROM who) IS NULL)`;
}

/** Claims a reward of items only for the account's person. false: another account of the person had it. */
export async function claimFirstTime(db: Queryable, p: { userId: number; reward: string }): Promise<boolean> {
  const [row] = await db<{ ok: boolean }[]>`
    WITH existing AS (SELECT WHERE false), ${firstTimeCte(db, p)} done AS (SELECT 1)
    SELECT ${firstTimeOk(db)} AS ok`;
  return Boolean(row?.ok);
}

/** What the user reads when a reward was collected by an earlier account of theirs. */
export function alreadyRewardedText(): string {
  return '🔁 Este premio ya lo cobró tu cuenta anterior: los premios de primera vez son uno por persona, también si borras tus datos y vuelves.';
}
