import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which outbox events the current request wrote. The webhook's after-commit relay publishes exactly
 * those, and nothing at all for the many updates that write none (/balance, /history …), instead of
 * probing and relaying the whole outbox on every request (measured in bench/webhook.ts: 1–4 fewer
 * statements per update). Rows of a rolled-back transaction are simply not found; the cron sweep
 * still publishes anything an interrupted request left behind.
 */
const written = new AsyncLocalStorage<string[]>();

export async function trackWrittenEvents(fn: () => Promise<unknown>): Promise<string[]> {
  const ids: string[] = [];
  await written.run(ids, fn);
  return ids;
}

export function noteWrittenEvents(...eventIds: string[]): void {
  written.getStore()?.push(...eventIds);
}
