import type { AsyncLocalStorage } from 'node:async_hooks';
import type { Queryable, Sql } from '../db/client.js';

/**
 * Which outbox events the current request wrote. The webhook's after-commit relay publishes exactly
 * those, and nothing at all for the many updates that write none (/balance, /history …), instead of
 * probing and relaying the whole outbox on every request (measured in bench/webhook.ts: 1–4 fewer
 * statements per update). Rows of a rolled-back transaction are simply not found; the cron sweep
 * still publishes anything an interrupted request left behind.
 *
 * The collector rides on the database handle the update's code queries through (issue 18): the bot
 * gives each update a handle of its own (`trackingDb`), every transaction begun on it (and every
 * savepoint) carries the same collector, and the outbox writers note on the handle they wrote with.
 * It used to be an AsyncLocalStorage, which on Node 20 puts a hook on every promise of the process
 * (~3–5 % of the webhook's CPU). DIANABOT_WRITTEN_CHECK=1 (the test suite) runs both and fails the
 * update if a write noted in the request's async context missed the handle (a module that queried
 * through another handle); DIANABOT_WRITTEN_TRACKING=als keeps the old way (a benchmark's "without").
 */
const WRITTEN = Symbol('writtenEvents');
type Tagged = { [WRITTEN]?: string[] };

const mode = process.env.DIANABOT_WRITTEN_TRACKING === 'als' ? 'als' : process.env.DIANABOT_WRITTEN_CHECK === '1' ? 'check' : 'handle';
let als: AsyncLocalStorage<string[]> | undefined;
async function asyncContext(): Promise<AsyncLocalStorage<string[]>> {
  if (!als) {
    const { AsyncLocalStorage } = await import('node:async_hooks');
    als ??= new AsyncLocalStorage<string[]>();
  }
  return als;
}

/** The collectors of the updates being handled, found by the bot's middleware (lib/bot/index.ts). */
const collectors = new WeakMap<object, string[]>();

export function writtenEventsCollector(update: object): string[] | undefined {
  return mode === 'als' ? undefined : collectors.get(update);
}

/** Runs the handling of `update` and returns the ids of the outbox events it wrote. */
export async function trackWrittenEvents(update: object, fn: () => Promise<unknown>): Promise<string[]> {
  const ids: string[] = [];
  if (mode === 'handle') {
    collectors.set(update, ids);
    try {
      await fn();
    } finally {
      collectors.delete(update);
    }
    return ids;
  }
  const context = await asyncContext();
  if (mode === 'als') {
    await context.run(ids, fn);
    return ids;
  }
  const seen: string[] = [];
  collectors.set(update, ids);
  try {
    await context.run(seen, fn);
  } finally {
    collectors.delete(update);
  }
  const missed = seen.filter((id) => !ids.includes(id));
  if (missed.length > 0) throw new Error(`outbox events written through a database handle the update did not give (lib/bus/written.ts): ${missed.join(', ')}`);
  return ids;
}

/** Called by the outbox writers with the handle they wrote through. */
export function noteWrittenEvents(q: Queryable, ...eventIds: string[]): void {
  if (mode !== 'handle') als?.getStore()?.push(...eventIds);
  (q as Tagged)[WRITTEN]?.push(...eventIds);
}

function tagged<T extends object>(tx: T, ids: string[]): T {
  (tx as Tagged)[WRITTEN] = ids;
  const sp = (tx as { savepoint?: (...args: unknown[]) => unknown }).savepoint;
  if (typeof sp === 'function') {
    (tx as { savepoint: unknown }).savepoint = (...args: unknown[]) => {
      const fn = args[args.length - 1];
      if (typeof fn === 'function') args[args.length - 1] = (s: object) => fn(tagged(s, ids));
      return sp(...args);
    };
  }
  return tx;
}

/** `db` for one update: the same pool, with the update's collector on it and on its transactions. */
export function trackingDb(db: Sql, ids: string[]): Sql {
  let begin: unknown;
  return new Proxy(db, {
    get(target, prop) {
      if (prop === WRITTEN) return ids;
      if (prop === 'begin') {
        return (begin ??= (...args: unknown[]) => {
          const fn = args[args.length - 1];
          if (typeof fn === 'function') args[args.length - 1] = (tx: object) => fn(tagged(tx, ids));
          return (target.begin as (...a: unknown[]) => unknown)(...args);
        });
      }
      return Reflect.get(target, prop);
    },
  });
}
