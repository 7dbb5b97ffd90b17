import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { jobHandlers, schedule, type JobHandler } from '../../scheduler/index.js';
import { endAuction } from './end.js';

/**
 * The end of an auction, at its end time (moved by late bids: anti-sniping reschedules this job). Runs
 * once: the end and the job's completion commit together, and a second or late run finds the auction
 * no longer open. A run that finds the end still ahead (a bid moved it while this run was claimed)
 * schedules the end again for the new time.
 */
export const auctionEndJob: JobHandler<{ auctionId: number }> = {
  kind: 'auction.end',
  payload: lazy(() => z.object({ auctionId: z.number().int().positive() })),
  async run(tx, p, ctx) {
    const outcome = await endAuction(tx, p.auctionId, ctx.now);
    if (outcome.status === 'early') {
      await schedule(tx, { kind: 'auction.end', key: `auction.end:${p.auctionId}:${outcome.endsAt.getTime()}`, dueAt: outcome.endsAt, payload: p });
    }
    ctx.log.info({ msg: 'auction end', auction: p.auctionId, outcome: outcome.status, late_ms: ctx.lateMs });
  },
};

jobHandlers.ensure(auctionEndJob);
