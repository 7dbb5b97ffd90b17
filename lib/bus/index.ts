import type { Config } from '../config.js';
import type { Sql } from '../db/client.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/zone.js';
import { receiveDelivery, verifySignature, type DeliveryRequest, type DeliveryResponse, type ProcessDeps, type SigningKeys } from './receive.js';
import {
  localTransport,
  pruneOutbox,
  qstashTransport,
  relayOutbox,
  type RelayDeps,
  type RelayReport,
  type RelayRunOptions,
  type Transport,
} from './relay.js';
import type { SubscriberHandler } from './subscriber.js';
import type { SubscriberName } from './subscriptions.js';
import { timingSafeEqual } from 'node:crypto';

export { createEvent, parseEvent, eventSchema, EVENT_TYPES, type BusEvent, type EventType } from './events.js';
export { newEvent, publish } from './outbox.js';
export { noteWrittenEvents } from './written.js';
export { fromHandlers, type SubscriberHandler, type HandlerContext, type HandlerMap, type EventHandler, type Tx } from './subscriber.js';

export interface Bus {
  /** qstash: published to QStash, delivered to api/events/*; local: delivered in-process. */
  readonly mode: 'qstash' | 'local';
  /**
   * The webhook's afterCommit hook: relays the events the update just wrote (none → nothing to do).
   * Without the ids (other callers) it relays whatever is due.
   */
  afterCommit(eventIds?: string[]): Promise<void>;
  /** A sweep (api/cron/relay.ts, the local sweeper): relays everything due, prunes old rows. */
  sweep(opts?: RelayRunOptions): Promise<RelayReport & { pruned: number }>;
  /** A QStash delivery to api/events/<subscriber>. */
  receive(subscriber: string, req: DeliveryRequest): Promise<DeliveryResponse>;
  /** Whether a cron request may run: Bearer CRON_SECRET, or a QStash signature for <PUBLIC_URL><path>. */
  authorizeCron(req: DeliveryRequest, path: string): Promise<boolean>;
  /** Resolves when no background relay is running (local mode). */
  idle(): Promise<void>;
  /** Periodic sweep for long-running servers (npm start / npm run dev); returns a stop function. */
  startSweeper(intervalMs?: number): () => void;
  close(): Promise<void>;
}

export interface BusDeps {
  db: Sql;
  log: Logger;
  /** The injected clock: delayed deliveries (job triggers) are timed by it. */
  clock?: Clock;
  timeZone: string;
  /** The modules' subscribers (lib/<module>/subscriber.ts), wired by lib/app.ts; audit is the bus's own. */
  subscribers?: Partial<Record<SubscriberName, SubscriberHandler>>;
}

export interface BusOverrides {
  transport?: Transport;
  /** Tests: replace some subscribers' handlers. */
  handlers?: Partial<Record<SubscriberName, SubscriberHandler>>;
  batchSize?: number;
  backoffSeconds?: (attempts: number) => number;
  afterPublish?: (rowIds: number[]) => Promise<void>;
  /** The after-commit relay in a transaction instead of a lease (lib/bus/relay.ts; a benchmark's "without"). */
  afterCommitInTransaction?: boolean;
  /** Tolerated clock skew when verifying signatures. */
  clockToleranceSeconds?: number;
  /** false: QStash requests through the client's own fetch (a benchmark's same-run "without"; lib/bus/qstash-http.ts). */
  leanQStashHttp?: boolean;
}

function constantTimeEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The event bus. With QSTASH_TOKEN set the relay publishes to QStash (QSTASH_URL, default the Upstash
 * endpoint) for api/events/* at PUBLIC_URL; otherwise it calls the same subscriber handlers in-process.
 * Either way outbox rows stay pending until delivered, and each subscriber processes an event once.
 */
export function createBus(config: Config, deps: BusDeps, overrides: BusOverrides = {}): Bus {
  const signingKeys: SigningKeys | undefined =
    config.QSTASH_CURRENT_SIGNING_KEY && config.QSTASH_NEXT_SIGNING_KEY
      ? { current: config.QSTASH_CURRENT_SIGNING_KEY, next: config.QSTASH_NEXT_SIGNING_KEY }
      : undefined;
  const processDeps: ProcessDeps = {
    db: deps.db,
    log: deps.log,
    timeZone: deps.timeZone,
    clock: deps.clock,
    handlers: { ...deps.subscribers, ...overrides.handlers },
  };
  const transport =
    overrides.transport ??
    (config.QSTASH_TOKEN && config.PUBLIC_URL
      ? qstashTransport({
          baseUrl: config.QSTASH_URL ?? 'https://qstash.upstash.io',
          token: config.QSTASH_TOKEN,
          publicUrl: config.PUBLIC_URL,
          clock: deps.clock,
          leanHttp: overrides.leanQStashHttp,
        })
      : localTransport(processDeps, Math.max(1, Math.min(4, config.DATABASE_POOL_MAX - 2))));
  const relayDeps: RelayDeps = {
    db: deps.db,
    log: deps.log,
    transport,
    batchSize: overrides.batchSize,
    backoffSeconds: overrides.backoffSeconds,
    afterPublish: overrides.afterPublish,
    afterCommitInTransaction: overrides.afterCommitInTransaction,
  };

  let closed = false;
  // Local mode: one background relay per process at a time; a request arriving meanwhile asks for one more pass.
  let running: Promise<void> | null = null;
  let again = false;
  const kick = () => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        const r = await relayOutbox(relayDeps, { timeBudgetMs: 5_000, stop: () => closed });
        if (r.failed > 0 && r.published === 0) break; // back-off: the sweeper retries
      } while (again && !closed);
    })()
      .catch((err) => deps.log.warn({ msg: 'background relay failed', error: String(err) }))
      .finally(() => {
        running = null;
      });
  };

  const sweepers = new Set<() => void>();

  const bus: Bus = {
    mode: transport.kind,
    async afterCommit(eventIds) {
      if (closed || eventIds?.length === 0) return;
      if (transport.kind === 'local') {
        kick();
        return;
      }
      // Serverless: the instance may freeze after the response, so publish this update's events now
      // (bounded); the cron sweeps whatever is left, including rows of requests that died.
      const r = await relayOutbox(relayDeps, { maxBatches: 2, timeBudgetMs: 2_000, only: eventIds });
      if (r.claimed > 0) deps.log.info({ msg: 'relay after commit', ...r });
    },
    async sweep(opts = {}) {
      const r = await relayOutbox(relayDeps, { timeBudgetMs: 50_000, stop: () => closed, ...opts });
      const pruned = await pruneOutbox(deps.db);
      // Every 10 s on a long-running server: only worth an info line when it did something.
      (r.claimed > 0 || pruned > 0 ? deps.log.info : deps.log.debug)({ msg: 'outbox sweep', mode: transport.kind, ...r, pruned });
      return { ...r, pruned };
    },
    receive(subscriber, req) {
      return receiveDelivery(
        { ...processDeps, signingKeys, publicUrl: config.PUBLIC_URL, clockToleranceSeconds: overrides.clockToleranceSeconds },
        subscriber,
        req,
      );
    },
    async authorizeCron(req, path) {
      const auth = req.headers.authorization ?? req.headers.Authorization;
      const value = Array.isArray(auth) ? auth[0] : auth;
      if (config.CRON_SECRET && value && constantTimeEquals(value, `Bearer ${config.CRON_SECRET}`)) return true;
      if (!signingKeys) return false;
      const body = typeof req.body === 'string' ? req.body : req.body.toString('utf8');
      const url = config.PUBLIC_URL ? `${config.PUBLIC_URL.replace(/\/+$/, '')}${path}` : undefined;
      return (await verifySignature(signingKeys, req.headers, body, url, overrides.clockToleranceSeconds)) === null;
    },
    async idle() {
      while (running) await running;
    },
    startSweeper(intervalMs = 10_000) {
      let busy = false;
      const timer = setInterval(() => {
        if (busy || closed) return;
        busy = true;
        bus
          .sweep({ timeBudgetMs: intervalMs })
          .catch((err) => deps.log.warn({ msg: 'outbox sweep failed', error: String(err) }))
          .finally(() => {
            busy = false;
          });
      }, intervalMs);
      timer.unref();
      const stop = () => {
        clearInterval(timer);
        sweepers.delete(stop);
      };
      sweepers.add(stop);
      return stop;
    },
    async close() {
      closed = true;
      for (const stop of [...sweepers]) stop();
      await bus.idle();
    },
  };
  return bus;
}
