import type { Queryable } from '../db/client.js';

/**
 * How long the abuse-prevention pseudonym (lib/users/pseudonym.ts) is kept, as /privacidad says:
 * on daily claims while it can still limit one (today's and yesterday's, whatever the zone), and in
 * the erasure records for a day (Telegram stops redelivering an update after 24 h). Run by the daily
 * maintenance job (lib/maintenance), on the injected clock.
 */
export async function prunePseudonyms(db: Queryable, now: Date, claimDays = 2, erasureHours = 24): Promise<{ claims: number; erasures: number }> {
  const claims = await db`
    UPDATE daily_claims SET person = NULL
     WHERE person IS NOT NULL AND claimed_at < ${now}::timestamptz - ${claimDays} * interval '1 day'`;
  const erasures = await db`DELETE FROM erasures WHERE erased_at < ${now}::timestamptz - ${erasureHours} * interval '1 hour'`;
  return { claims: claims.count, erasures: erasures.count };
}
