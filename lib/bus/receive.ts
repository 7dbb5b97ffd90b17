import type { Sql } from '../db/client.js';
import { isTransientDbError } from '../db/errors.js';
import { withPipelinedTransaction, withTransaction, type CommitWith } from '../db/transaction.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../time/zone.js';
import { InvalidEvent, parseEvent } from './events.js';
import { auditSubscriber } from './audit-subscriber.js';
import type { HandlerContext, SubscriberHandler, Tx } from './subscriber.js';
import { isRouted, isSubscriber, type SubscriberName } from './subscriptions.js';

export interface ProcessDeps {
  db: Sql;
  log: Logger;
  timeZone: string;
  /** The injected clock handed to handlers (default: the system clock). */
  clock?: Clock;
  /**
   * The subscribers' handlers, wired by lib/app.ts from the modules that own them. The bus brings only
   * its own (audit). A routed event for a subscriber with no handler fails (and is retried) rather
   * than being acknowledged unprocessed.
   */
  handlers?: Partial<Record<SubscriberName, SubscriberHandler>>;
}

export class SubscriberNotWired extends Error {
  constructor(subscriber: string) {
    super(`no handler wired for subscriber "${subscriber}"`);
    this.name = 'SubscriberNotWired';
  }
}

/** processed: the effect ran now; duplicate: it had run before; ignored: not routed here; dead: kept for inspection. */
export type Outcome = 'processed' | 'duplicate' | 'ignored' | 'dead';

/** Rolls back what a pipelinesClaim handler wrote before it knew its event was a duplicate. */
const DUPLICATE = Symbol('duplicate delivery');

const MAX_DEAD_BODY = 64 * 1024;

/** `prepare` runs outside any transaction: there is no commit to send writes with. */
const noTransaction: CommitWith = () => {
  throw new Error('commitWith: prepare runs outside a transaction');
};

async function keepDead(deps: ProcessDeps, subscriber: string, body: string, reason: string, parsed: unknown): Promise<void> {
  const obj = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  const eventId = typeof obj.event_id === 'string' ? obj.event_id.slice(0, 100) : null;
  const type = typeof obj.type === 'string' ? obj.type.slice(0, 100) : null;
  await deps.db`
    INSERT INTO dead_events (subscriber, event_id, type, reason, body)
    VALUES (${subscriber}, ${eventId}, ${type}, ${reason.slice(0, 2000)}, ${body.slice(0, MAX_DEAD_BODY)})
    ON CONFLICT (subscriber, event_id) WHERE event_id IS NOT NULL DO NOTHING`;
  deps.log.warn({ msg: 'event kept for inspection', subscriber, event_id: eventId, type, reason });
}

/**
 * Processes one delivery for one subscriber, once per (subscriber, event_id): the processed_events
 * row and the handler's effect commit in one transaction, so a redelivery (concurrent or later) finds
 * the row and does nothing. A malformed or unknown event is stored in dead_events and acknowledged.
 * Throws on failure (the caller answers 5xx / retries later).
 */
export async function processEvent(deps: ProcessDeps, subscriber: SubscriberName, body: string): Promise<Outcome> {
  const started = performance.now();
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    await keepDead(deps, subscriber, body, 'body is not JSON', null);
    return 'dead';
  }
  let event;
  try {
    event = parseEvent(raw);
  } catch (err) {
    if (!(err instanceof InvalidEvent)) throw err;
    await keepDead(deps, subscriber, body, err.message, raw);
    return 'dead';
  }
  if (!isRouted(subscriber, event.type)) {
    deps.log.info({ msg: 'event not routed to this subscriber, ignored', subscriber, event_id: event.event_id, type: event.type });
    return 'ignored';
  }
  const handler = deps.handlers?.[subscriber] ?? (subscriber === 'audit' ? auditSubscriber : undefined);
  if (!handler) throw new SubscriberNotWired(subscriber);
  const base = { timeZone: deps.timeZone, log: deps.log, raw: raw as Record<string, unknown>, clock: deps.clock ?? systemClock };
  // Phase one (commands only so far): its own, self-idempotent commit; see SubscriberHandler.prepare.
  if (handler.prepare) await handler.prepare(deps.db, event, { ...base, claimed: Promise.resolve(true), commitWith: noTransaction, attempt: 1 });
  // A handler that pipelines its claim also gets its BEGIN and COMMIT pipelined (two round trips fewer).
  const run = async (tx: Tx, commitWith: CommitWith, attempt: number) => {
    const claimed = tx`
      INSERT INTO processed_events (subscriber, event_id) VALUES (${subscriber}, ${event.event_id})
      ON CONFLICT DO NOTHING RETURNING 1 AS fresh`.then((rows) => rows.length > 0);
    // A handler that fails before awaiting the claim: the claim's own failure is not a second error.
    claimed.catch(() => {});
    if (!handler.pipelinesClaim && !(await claimed)) return 'duplicate' as const;
    await handler(tx, event, { ...base, claimed, commitWith, attempt });
    if (!(await claimed)) throw DUPLICATE;
    return 'processed' as const;
  };
  const outcome = await (handler.pipelinesClaim
    ? withPipelinedTransaction(deps.db, run)
    : withTransaction(deps.db, async (tx, attempt) => {
        const tail: PromiseLike<unknown>[] = [];
        const result = await run(tx, (...writes) => void tail.push(...writes), attempt);
        await Promise.all(tail);
        return result;
      })
  ).catch((err: unknown) => {
    if (err === DUPLICATE) return 'duplicate' as const;
    throw err;
  });
  deps.log.info({
    msg: 'event handled',
    subscriber,
    event_id: event.event_id,
    type: event.type,
    user: event.user_id ?? null,
    outcome,
    ms: Math.round(performance.now() - started),
  });
  return outcome;
}

export interface SigningKeys {
  current: string;
  next: string;
}

export interface DeliveryRequest {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body bytes exactly as received: the signature covers them. */
  body: string | Buffer;
}

export interface DeliveryResponse {
  status: number;
  body: string;
}

export interface ReceiveDeps extends ProcessDeps {
  signingKeys?: SigningKeys;
  /** Base URL QStash delivers to (PUBLIC_URL): the signature's subject must be <base>/api/events/<subscriber>. */
  publicUrl?: string;
  /** Seconds of clock skew tolerated on exp/nbf. */
  clockToleranceSeconds?: number;
}

type ReceiverLike = { verify(req: { signature: string; body: string; url?: string; clockTolerance?: number }): Promise<boolean> };
const receivers = new Map<string, Promise<ReceiverLike>>();

/** The official Receiver, loaded on first use so that functions that never verify do not load the SDK. */
export function getReceiver(keys: SigningKeys): Promise<ReceiverLike> {
  const cacheKey = `${keys.current}\u0000${keys.next}`;
  let r = receivers.get(cacheKey);
  if (!r) {
    r = import('@upstash/qstash').then(
      (m) => new m.Receiver({ currentSigningKey: keys.current, nextSigningKey: keys.next, devMode: false }),
      (err) => {
        receivers.delete(cacheKey);
        throw err;
      },
    );
    receivers.set(cacheKey, r);
  }
  return r;
}

function header(headers: DeliveryRequest['headers'], name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Verifies Upstash-Signature (current, then next key) against the raw body and the expected URL. */
export async function verifySignature(
  keys: SigningKeys | undefined,
  headers: DeliveryRequest['headers'],
  body: string,
  url: string | undefined,
  clockToleranceSeconds = 5,
): Promise<string | null> {
  if (!keys) return 'QStash signing keys are not configured';
  const signature = header(headers, 'upstash-signature');
  if (!signature) return 'missing Upstash-Signature';
  const receiver = await getReceiver(keys);
  try {
    await receiver.verify({ signature, body, url, clockTolerance: clockToleranceSeconds });
    return null;
  } catch (err) {
    return `invalid signature: ${(err as Error).message}`;
  }
}

export function subscriberUrl(publicUrl: string, subscriber: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/api/events/${subscriber}`;
}

/**
 * One QStash delivery to api/events/<subscriber>: 401 unless the signature verifies on the raw body;
 * 200 once processed (or a duplicate, or kept as dead); 503 on a transient failure and 500 on any other
 * failure, so that QStash retries (a bounded number of times, then its dead-letter queue).
 */
export async function receiveDelivery(deps: ReceiveDeps, subscriber: string, req: DeliveryRequest): Promise<DeliveryResponse> {
  if (req.method && req.method !== 'POST') return { status: 405, body: 'method not allowed' };
  if (!isSubscriber(subscriber)) return { status: 404, body: 'unknown subscriber' };
  const body = typeof req.body === 'string' ? req.body : req.body.toString('utf8');
  const url = deps.publicUrl ? subscriberUrl(deps.publicUrl, subscriber) : undefined;
  const problem = await verifySignature(deps.signingKeys, req.headers, body, url, deps.clockToleranceSeconds);
  if (problem) {
    deps.log.warn({ msg: 'event delivery rejected', subscriber, reason: problem, message_id: header(req.headers, 'upstash-message-id') ?? null });
    return { status: 401, body: 'unauthorized' };
  }
  try {
    const outcome = await processEvent(deps, subscriber, body);
    return { status: 200, body: outcome };
  } catch (err) {
    const transient = isTransientDbError(err);
    deps.log.error({
      msg: 'event processing failed, QStash will retry',
      subscriber,
      message_id: header(req.headers, 'upstash-message-id') ?? null,
      transient,
      error: `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`.slice(0, 2000),
    });
    return { status: transient ? 503 : 500, body: 'retry later' };
  }
}
