import { z } from 'zod';
import { lazy } from '../lazy.js';
import type { Queryable } from '../db/client.js';
import { pruneJobs, schedule, type JobHandler } from '../scheduler/index.js';
import { localDate, startOfLocalDay } from '../time/zone.js';
import { prunePseudonyms } from '../users/retention.js';
import { pruneInbox } from '../webhook/retention.js';

/** Local hour of the daily maintenance (quiet time in the bot's zone). */
const HOUR = 4;

/**
 * Daily housekeeping as a scheduled job (one per local day, key `maintenance.daily:<date>`): prunes
 * handled updates from the inbox (3 days; failed ones after 30) and done or cancelled jobs (7 days).
 * It runs wherever jobs run — the cron sweep on Vercel, the in-process timer under npm start / dev —
 * so a self-hosted bot is pruned too. The outbox prunes itself on every relay sweep (lib/bus).
 */
export const dailyMaintenance: JobHandler<Record<string, never>> = {
  kind: 'maintenance.daily',
  payload: lazy(() => z.object({}).strict()) as z.ZodType<Record<string, never>>,
  async run(tx, _payload, ctx) {
    const inboxPruned = await pruneInbox(tx, ctx.now);
    const jobsPruned = await pruneJobs(tx, ctx.now, 7);
    const pseudonymsPruned = await prunePseudonyms(tx, ctx.now);
    ctx.log.info({ msg: 'maintenance', inboxPruned, jobsPruned, pseudonymsPruned, late_ms: ctx.lateMs });
  },
  maxAttempts: 10,
};

/**
 * Schedules today's maintenance (idempotent by key; one INSERT that is a no-op after the first).
 * Called before each sweep, remembered per local day so a busy timer does not repeat it.
 */
export function maintenanceScheduler(timeZone: string) {
  let done: string | null = null;
  return async (db: Queryable, now: Date): Promise<void> => {
    const day = localDate(now, timeZone);
    if (day === done) return;
    const dueAt = new Date(startOfLocalDay(day, timeZone).getTime() + HOUR * 3_600_000);
    await schedule(db, { kind: dailyMaintenance.kind, key: `${dailyMaintenance.kind}:${day}`, dueAt, payload: {} });
    done = day;
  };
}
