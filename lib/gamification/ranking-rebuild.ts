import { z } from 'zod';
import type { Queryable } from '../db/client.js';
import { KeyValueUnavailable } from '../kv/types.js';
import { lazy } from '../lazy.js';
import { schedule, type JobHandler } from '../scheduler/index.js';
import { rebuildBoard } from './ranking.js';
import { BOARDS } from './rules-ranking.js';

/**
 * The boards' hourly check against Postgres (a `gamification.ranking_rebuild` job per hour, scheduled
 * before each sweep like the daily maintenance): a Redis that was flushed, or a set that drifted (a
 * write lost while the store was down, a member the subscriber missed), heals without anyone asking
 * for /ranking. The rebuild writes only the difference, so a second run in a row changes nothing, and
 * an erased user, absent from Postgres' live users, is removed rather than written back.
 * A store that is down is logged and left to the next hour (the boards are not money).
 */
export const rankingRebuildJob: JobHandler<Record<string, never>> = {
  kind: 'gamification.ranking_rebuild',
  payload: lazy(() => z.object({}).strict()) as z.ZodType<Record<string, never>>,
  async run(tx, _payload, ctx) {
    if (!ctx.kv) return;
    for (const board of BOARDS) {
      try {
        const result = await rebuildBoard(tx, ctx.kv, board, ctx.now, ctx.timeZone);
        ctx.log.info({ msg: 'ranking rebuild', board, ...(result ?? { skipped: 'another rebuild in progress' }) });
      } catch (err) {
        if (!(err instanceof KeyValueUnavailable)) throw err;
        ctx.log.warn({ msg: 'ranking rebuild: key-value store unavailable, left to the next hour', board });
      }
    }
  },
};

const HOUR_MS = 3_600_000;

/** Schedules this hour's rebuild (one INSERT, a no-op after the first; remembered per hour). */
export function rankingRebuildScheduler() {
  let done: number | null = null;
  return async (db: Queryable, now: Date): Promise<void> => {
    const hour = Math.floor(now.getTime() / HOUR_MS);
    if (hour === done) return;
    const dueAt = new Date(hour * HOUR_MS);
    await schedule(db, { kind: rankingRebuildJob.kind, key: `${rankingRebuildJob.kind}:${dueAt.toISOString().slice(0, 13)}`, dueAt, payload: {} });
    done = hour;
  };
}
