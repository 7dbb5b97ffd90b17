import type { SubscriberHandler } from '../bus/index.js';
import type { Scheduler } from './index.js';

/**
 * The `scheduler` subscriber (api/events/scheduler.ts): a job's trigger arrived, run the job if it is
 * due. The run commits on its own (its claim, then effect + completion), before the bus records the
 * delivery, so it is the `prepare` phase; a redelivered trigger finds the job done and does nothing.
 */
export function createSchedulerSubscriber(scheduler: Scheduler): SubscriberHandler {
  const handler: SubscriberHandler = async () => {};
  handler.prepare = async (_db, event, ctx) => {
    if (event.type !== 'system.job_due') return;
    const outcome = await scheduler.onTrigger(event.data);
    ctx.log.debug({ msg: 'job trigger', key: event.data.job_key, hop: event.data.hop, outcome });
  };
  return handler;
}
