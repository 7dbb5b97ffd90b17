import type { Queryable } from '../db/client.js';

/** How long the abuse-prevention pseudonym (lib/users/pseudonym.ts) is kept, as /privacidad says. */
export const PSEUDONYM_RETENTION = {
  /** On daily claims: while it can still limit one (today's and yesterday's, whatever the zone). */
  claimDays: 2,
  /** In the erasure records: Telegram stops redelivering an update after 24 h. */
  erasureHours: 24,
  /**
   * After /borrar, on the erased account (users.person), in first-time rewards (person_rewards) and in
   * referral newness (referral_known_persons): coming back within this time is recognised (no first-time
   * reward, no referral reward twice); afterwards the person is new again.
   */
  erasedDays: 180,
  /** On cap counters (besitos_caps): a row whose week began this long ago counts for no current day or week. */
  capDays: 14,
} as const;

/**
 * Prunes the pseudonym where it is no longer needed (the limits above). Run by the daily maintenance
 * job (lib/maintenance), on the injected clock. First-time rewards go with the last account holding
 * their person: a live one keeps them (its own rewards are also keyed by account), an erased one for
 * `erasedDays`.
 */
export async function prunePseudonyms(
  db: Queryable,
  now: Date,
  r: Partial<typeof PSEUDONYM_RETENTION> = {},
): Promise<{ claims: number; erasures: number; accounts: number; rewards: number; known: number; caps: number }> {
  const { claimDays, erasureHours, erasedDays, capDays } = { ...PSEUDONYM_RETENTION, ...r };
  const claims = await db`
    UPDATE daily_claims SET person = NULL
     WHERE person IS NOT NULL AND claimed_at < ${now}::timestamptz - ${claimDays} * interval '1 day'`;
  const erasures = await db`DELETE FROM erasures WHERE erased_at < ${now}::timestamptz - ${erasureHours} * interval '1 hour'`;
  const accounts = await db`
    UPDATE users SET person = NULL
     WHERE person IS NOT NULL AND deleted_at < ${now}::timestamptz - ${erasedDays} * interval '1 day'`;
  const rewards = await db`DELETE FROM person_rewards r WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.person = r.person)`;
  const known = await db`DELETE FROM referral_known_persons WHERE erased_at < ${now}::timestamptz - ${erasedDays} * interval '1 day'`;
  // By the row's own period (the injected clock's days), not by when it was written.
  const caps = await db`DELETE FROM besitos_caps WHERE week < (${now}::timestamptz)::date - ${capDays}::int`;
  return { claims: claims.count, erasures: erasures.count, accounts: accounts.count, rewards: rewards.count, known: known.count, caps: caps.count };
}
