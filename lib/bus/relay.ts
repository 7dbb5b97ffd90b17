import type { Queryable, Sql } from '../db/client.js';
import type { Logger } from '../log.js';
import { processEvent, subscriberUrl, type ProcessDeps } from './receive.js';
import { subscribersFor, type SubscriberName } from './subscriptions.js';

/** One message: an outbox row for one subscriber. */
export interface Delivery {
  rowId: number;
  eventId: string;
  type: string;
  subscriber: SubscriberName;
  /** The event JSON, byte for byte what the subscriber receives. */
  body: string;
  /** Deliver no earlier than this (ms since epoch): a scheduled job's trigger (system.job_due). */
  notBefore?: number;
}

/** Sends deliveries; returns the failed rows with a reason (a row absent from the map succeeded). */
export interface Transport {
  kind: 'qstash' | 'local';
  send(deliveries: Delivery[]): Promise<Map<number, string>>;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

function errorText(err: unknown): string {
  return `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`.slice(0, 1000);
}

export interface QStashTransportOptions {
  baseUrl: string;
  token: string;
  /** Where the subscriber functions live: messages go to <publicUrl>/api/events/<subscriber>. */
  publicUrl: string;
  /** Messages per /v2/batch request. */
  maxMessagesPerRequest?: number;
  /** Batch requests in flight at once. */
  concurrency?: number;
  /** QStash delivery retries per message (Upstash-Retries); the plan's default when unset. */
  deliveryRetries?: number;
  /** A batch request that takes longer counts as failed (the rows are retried; dedup ids absorb a late success). */
  requestTimeoutMs?: number;
  /** The injected clock, for delayed deliveries (default: the system clock). */
  clock?: () => Date;
  /** The longest Upstash-Not-Before ahead of now QStash accepts (free plan: 7 days); later ones are clamped and re-armed. */
  maxDelayMs?: number;
  /** false: the client's own fetch instead of the keep-alive node:http requester (lib/bus/qstash-http.ts; a benchmark's "without"). */
  leanHttp?: boolean;
}

/** A little under QStash's 7-day limit on the free plan. */
export const QSTASH_MAX_DELAY_MS = 6 * 86_400_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`QStash request timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type BatchClient = { batch(messages: unknown[]): Promise<unknown[]> };

/**
 * Publishes through the official client's batch API, one message per (event, subscriber) with
 * Upstash-Deduplication-Id = <event_id>:<subscriber>. The SDK is imported on first use, so a cold
 * start that has nothing to publish never loads it.
 */
export function qstashTransport(opts: QStashTransportOptions): Transport {
  let client: Promise<BatchClient> | undefined;
  const getClient = () =>
    (client ??= Promise.all([import('@upstash/qstash'), import('./qstash-http.js')]).then(
      ([m, lean]) => {
        // The relay retries failed rows itself (with back-off, from the outbox); one quick retry covers a dropped connection.
        const retry = { retries: 1, backoff: () => 100 };
        const c = new m.Client({ baseUrl: opts.baseUrl, token: opts.token, devMode: false, enableTelemetry: false, retry });
        if (opts.leanHttp ?? true) {
          c.http = lean.leanRequester(c.http, { baseUrl: opts.baseUrl, token: opts.token, ...retry, timeoutMs: opts.requestTimeoutMs ?? 10_000, errors: m });
        }
        return c as unknown as BatchClient;
      },
      (err) => {
        client = undefined;
        throw err;
      },
    ));
  const perRequest = opts.maxMessagesPerRequest ?? 100;
  const concurrency = opts.concurrency ?? 4;
  const notBefore = (d: Delivery) => {
    if (d.notBefore === undefined) return {};
    const now = (opts.clock ?? (() => new Date()))().getTime();
    if (d.notBefore <= now) return {};
    return { notBefore: Math.ceil(Math.min(d.notBefore, now + (opts.maxDelayMs ?? QSTASH_MAX_DELAY_MS)) / 1000) };
  };
  return {
    kind: 'qstash',
    async send(deliveries) {
      const failed = new Map<number, string>();
      if (deliveries.length === 0) return failed;
      const c = await getClient();
      const chunks: Delivery[][] = [];
      for (let i = 0; i < deliveries.length; i += perRequest) chunks.push(deliveries.slice(i, i + perRequest));
      await mapLimit(chunks, concurrency, async (chunk) => {
        try {
          await withTimeout(c.batch(
            chunk.map((d) => ({
              url: subscriberUrl(opts.publicUrl, d.subscriber),
              body: d.body,
              headers: { 'Content-Type': 'application/json' },
              deduplicationId: `${d.eventId}:${d.subscriber}`,
              ...notBefore(d),
              ...(opts.deliveryRetries !== undefined ? { retries: opts.deliveryRetries } : {}),
            })),
          ), opts.requestTimeoutMs ?? 10_000);
        } catch (err) {
          const reason = errorText(err);
          for (const d of chunk) failed.set(d.rowId, reason);
        }
      });
      return failed;
    },
  };
}

/**
 * Without QStash: the same subscriber handlers, called in-process. Each (event, subscriber) runs in its
 * own transaction with its processed_events row, exactly as behind QStash, so a row that failed for
 * one subscriber is retried later and the subscribers that already processed it skip it.
 */
export function localTransport(deps: ProcessDeps, concurrency = 4): Transport {
  return {
    kind: 'local',
    async send(deliveries) {
      const failed = new Map<number, string>();
      await mapLimit(deliveries, concurrency, async (d) => {
        if (failed.has(d.rowId)) return;
        try {
          await processEvent(deps, d.subscriber, d.body);
        } catch (err) {
          failed.set(d.rowId, `${d.subscriber}: ${errorText(err)}`);
        }
      });
      return failed;
    },
  };
}

export interface RelayDeps {
  db: Sql;
  log: Logger;
  transport: Transport;
  /** Outbox rows claimed per transaction. */
  batchSize?: number;
  /** Seconds before retrying a row that failed for the n-th time (n ≥ 1). */
  backoffSeconds?: (attempts: number) => number;
  /** Fault injection for tests: runs after publishing, before the rows are marked sent. */
  afterPublish?: (rowIds: number[]) => Promise<void>;
  /** The after-commit relay in a transaction, as before issue 18 (a benchmark's same-run "without"). */
  afterCommitInTransaction?: boolean;
}

export interface RelayReport {
  batches: number;
  claimed: number;
  published: number;
  failed: number;
  ms: number;
}

/** 5 s, 10 s, 20 s … capped at one hour, ±25 % jitter. */
export const defaultBackoffSeconds = (attempts: number) =>
  Math.min(3600, 5 * 2 ** Math.max(0, attempts - 1)) * (0.75 + Math.random() * 0.5);

interface ClaimedRow {
  id: number;
  event_id: string;
  type: string;
  body: string;
  attempts: number;
}

/** A job trigger is delivered at its job's time; every other event at once. */
function notBeforeOf(r: ClaimedRow): number | undefined {
  if (r.type !== 'system.job_due') return undefined;
  const at = Date.parse((JSON.parse(r.body) as { data?: { run_at?: string } }).data?.run_at ?? '');
  return Number.isNaN(at) ? undefined : at;
}

function deliveriesOf(rows: ClaimedRow[]): Delivery[] {
  const deliveries: Delivery[] = [];
  for (const r of rows) {
    const notBefore = notBeforeOf(r);
    for (const subscriber of subscribersFor(r.type)) {
      deliveries.push({ rowId: r.id, eventId: r.event_id, type: r.type, subscriber, body: r.body, notBefore });
    }
  }
  return deliveries;
}

async function sendAll(deps: RelayDeps, rows: ClaimedRow[]): Promise<Map<number, string>> {
  try {
    return await deps.transport.send(deliveriesOf(rows));
  } catch (err) {
    return new Map(rows.map((r) => [r.id, errorText(err)]));
  }
}

/** Marks the delivered rows sent and schedules the failed ones (attempts, next_attempt_at, last_error). */
async function settle(q: Queryable, deps: RelayDeps, rows: ClaimedRow[], failed: Map<number, string>) {
  const backoff = deps.backoffSeconds ?? defaultBackoffSeconds;
  const ok = rows.filter((r) => !failed.has(r.id)).map((r) => r.id);
  if (ok.length > 0) {
    await q`UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id IN ${q(ok)}`;
  }
  const retry = rows.filter((r) => failed.has(r.id));
  if (retry.length > 0) {
    await q`
      UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.reason,
             next_attempt_at = now() + f.delay * interval '1 second'
        FROM unnest(${q.array(retry.map((r) => String(r.id)))}::bigint[],
                    ${q.array(retry.map((r) => backoff(r.attempts + 1)))}::float8[],
                    ${q.array(retry.map((r) => failed.get(r.id)!))}::text[]) AS f(id, delay, reason)
       WHERE o.id = f.id`;
    deps.log.warn({ msg: 'outbox rows not delivered, retrying later', rows: retry.length, error: failed.get(retry[0]!.id) });
  }
  return { claimed: rows.length, published: ok.length, failed: retry.length };
}

/** How long in-process delivery may hold claimed rows before another relay may take them over. */
export const LOCAL_LEASE_SECONDS = 120;
/**
 * The after-commit relay's lease on a request's own rows (QStash: a batch request times out after
 * 10 s and is retried once), after which the sweep may publish them again.
 */
export const AFTER_COMMIT_LEASE_SECONDS = 30;

/**
 * One batch.
 *
 * QStash: claims due, unpublished rows with FOR UPDATE SKIP LOCKED and keeps them locked while it
 * publishes (one HTTP request per 100 messages, with a timeout), then marks them sent or schedules a
 * retry in the same transaction: a concurrent relay skips them, so no row is published by two relays.
 * A crash after publishing and before the commit leaves the rows pending: they are published again,
 * and the deduplication id and processed_events absorb it.
 *
 * In-process: the handlers need connections of their own, so the claim is a lease instead (the same
 * SKIP LOCKED select pushes next_attempt_at past the delivery, in one statement); no connection or lock
 * is held while the handlers run, which also works with a pool of one. If a delivery outlives the lease,
 * another relay may deliver the row again, and processed_events absorbs it.
 *
 * The after-commit relay of one request (`only`: the events it wrote) takes the lease too, with QStash:
 * 2 statements (the claim, the settle) instead of a transaction's 4 (issue 18: /daily's 12 → 10). If the
 * instance dies after publishing, the rows are published again by the sweep once the lease has ended
 * (AFTER_COMMIT_LEASE_SECONDS) instead of at once; a failure it survives (the settle refused, a fault
 * injected after publishing) gives them back at once. The deduplication id and processed_events absorb
 * the copies.
 */
export async function relayBatch(deps: RelayDeps, only?: string[]): Promise<Omit<RelayReport, 'batches' | 'ms'>> {
  const batchSize = deps.batchSize ?? 100;
  const onlyThese = (q: Queryable) => (only ? q`AND event_id IN ${q(only)}` : q``);
  if (deps.transport.kind === 'local' || (only && !deps.afterCommitInTransaction)) {
    const lease = deps.transport.kind === 'local' ? LOCAL_LEASE_SECONDS : AFTER_COMMIT_LEASE_SECONDS;
    const rows = await deps.db<ClaimedRow[]>`
      UPDATE outbox o SET next_attempt_at = now() + ${lease} * interval '1 second'
        FROM (SELECT id FROM outbox
               WHERE published_at IS NULL AND next_attempt_at <= now() ${onlyThese(deps.db)}
               ORDER BY next_attempt_at, id
               LIMIT ${batchSize}
                 FOR UPDATE SKIP LOCKED) c
       WHERE o.id = c.id
      RETURNING o.id, o.event_id, o.type, o.event::text AS body, o.attempts`;
    if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };
    const failed = await sendAll(deps, rows);
    try {
      await deps.afterPublish?.(rows.map((r) => r.id));
      return await settle(deps.db, deps, rows, failed);
    } catch (err) {
      // After commit, a failure here (not a dead instance) gives the rows back at once, as the
      // transaction's rollback did: the sweep need not wait for the lease.
      if (deps.transport.kind !== 'local') {
        await deps.db`UPDATE outbox SET next_attempt_at = now() WHERE id IN ${deps.db(rows.map((r) => r.id))} AND published_at IS NULL`.catch(() => {});
      }
      throw err;
    }
  }
  return deps.db.begin(async (tx) => {
    const rows = await tx<ClaimedRow[]>`
      SELECT id, event_id, type, event::text AS body, attempts
        FROM outbox
       WHERE published_at IS NULL AND next_attempt_at <= now() ${onlyThese(tx)}
       ORDER BY next_attempt_at, id
       LIMIT ${batchSize}
         FOR UPDATE SKIP LOCKED`;
    if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };
    const failed = await sendAll(deps, rows);
    await deps.afterPublish?.(rows.map((r) => r.id));
    return settle(tx, deps, rows, failed);
  });
}

export interface RelayRunOptions {
  maxBatches?: number;
  /** Stop starting new batches after this long. */
  timeBudgetMs?: number;
  /** Checked before each batch: true stops the run (shutdown). */
  stop?: () => boolean;
  /** Only these events (by event_id): the after-commit relay of one request. */
  only?: string[];
}

/** Relays batches until the outbox has nothing due, every row of a batch failed, or the budget is spent. */
export async function relayOutbox(deps: RelayDeps, opts: RelayRunOptions = {}): Promise<RelayReport> {
  const started = performance.now();
  const maxBatches = opts.maxBatches ?? Infinity;
  const budget = opts.timeBudgetMs ?? 10_000;
  const batchSize = deps.batchSize ?? 100;
  const report: RelayReport = { batches: 0, claimed: 0, published: 0, failed: 0, ms: 0 };
  while (report.batches < maxBatches && performance.now() - started < budget && !opts.stop?.()) {
    const r = await relayBatch(deps, opts.only);
    if (r.claimed === 0) break;
    report.batches++;
    report.claimed += r.claimed;
    report.published += r.published;
    report.failed += r.failed;
    if (r.claimed < batchSize || r.published === 0) break;
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}

/**
 * Deletes published outbox rows older than the retention, and processed_events rows old enough that no
 * redelivery can still come (a row is republished only while it is in the outbox), a bounded number per call.
 */
export async function pruneOutbox(db: Sql, retentionDays = 7, limit = 5000): Promise<number> {
  const rows = await db`
    DELETE FROM outbox WHERE id IN (
      SELECT id FROM outbox WHERE published_at < now() - ${retentionDays} * interval '1 day' LIMIT ${limit})`;
  await db`
    DELETE FROM processed_events WHERE (subscriber, event_id) IN (
      SELECT subscriber, event_id FROM processed_events
       WHERE processed_at < now() - ${retentionDays * 4} * interval '1 day' LIMIT ${limit})`;
  return rows.count;
}
