import type postgres from 'postgres';
import type { Sql } from '../db/client.js';
import type { CommitWith } from '../db/transaction.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/zone.js';
import type { BusEvent, EventOf, EventType } from './events.js';

export type Tx = postgres.TransactionSql<{}>;

export interface HandlerContext {
  /** Zone of calendar days (statistics per day). */
  timeZone: string;
  log: Logger;
  /** The event exactly as published (the schema strips unknown fields; the audit log keeps them). */
  raw: Record<string, unknown>;
  /** The injected clock: time-dependent rules read it, not Date.now(). */
  clock: Clock;
  /**
   * Whether this transaction's processed_events row is new (false: a duplicate). Already true when the
   * handler runs, except for a handler with `pipelinesClaim`, which gets it still in flight.
   */
  claimed: Promise<boolean>;
  /**
   * Hands over writes the handler sent and does not await (their results decide nothing): the bus
   * awaits them before the commit — for a `pipelinesClaim` handler, in the same round trip as COMMIT
   * (lib/db/transaction.ts withPipelinedTransaction). One failing rolls the delivery back.
   */
  commitWith: CommitWith;
  /** 1 for the first run of this delivery's transaction, more when it is run again (deadlock, retry). */
  attempt: number;
}

export type EventHandler<T extends EventType> = (tx: Tx, event: EventOf<T>, ctx: HandlerContext) => Promise<void>;
export type HandlerMap = { [T in EventType]?: EventHandler<T> };

/**
 * A subscriber's effect for one event. It runs inside the transaction that also records
 * processed_events(subscriber, event_id), so it happens once however often the event arrives.
 * Subscribers belong to their modules (lib/<module>/subscriber.ts); lib/app.ts wires them into the bus.
 */
export type SubscriberHandler = ((tx: Tx, event: BusEvent, ctx: HandlerContext) => Promise<void>) & {
  /**
   * Optional first phase, run on every delivery before the processed_events transaction (also for
   * duplicates), outside any transaction: an effect that must commit on its own and be idempotent by
   * itself (the commands subscriber executes the pending action here, guarded by its status), so that
   * a failure of the second phase (e.g. telling the user) retries only that phase.
   */
  prepare?: (db: Sql, event: BusEvent, ctx: HandlerContext) => Promise<void>;
  /**
   * The handler runs before the processed_events row is known to be new, so that its first statements
   * go out in the claim's round trip. Whatever it writes in the transaction is rolled back on a
   * duplicate; it awaits `ctx.claimed` before any effect outside the transaction (Redis, Telegram)
   * and may stop early when it is false. Its transaction's BEGIN and COMMIT are pipelined too (BEGIN
   * with the claim, COMMIT with `ctx.commitWith`'s writes).
   */
  pipelinesClaim?: boolean;
};

/** Builds a subscriber from per-type handlers; a routed type without a handler is a no-op. */
export function fromHandlers(handlers: HandlerMap): SubscriberHandler {
  return async (tx, event, ctx) => {
    const handler = handlers[event.type] as EventHandler<typeof event.type> | undefined;
    if (handler) await handler(tx, event as never, ctx);
  };
}
