import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A QStash-compatible server for tests and benches (the official local server downloads a binary,
 * which these machines cannot do). It speaks the wire format of @upstash/qstash's Client:
 *   POST /v2/publish/<destination URL>  headers Upstash-* (Deduplication-Id, Retries, Forward-*), raw body
 *   POST /v2/batch                      JSON [{ destination, headers, body, queue? }]
 * and delivers each message over HTTP the way QStash does: POST to the destination with the body,
 * forwarded headers and Upstash-Signature, an HS256 JWT signed with the current signing key
 * (iss "Upstash", sub = destination URL, body = base64url(SHA-256(raw body)), iat, nbf, exp, jti).
 * Non-2xx answers (and connection errors) are retried with exponential back-off up to the message's
 * retries, then the message goes to the DLQ list. Deduplication ids are honoured for `dedupWindowMs`.
 */
export interface QStashServerOptions {
  token?: string;
  currentSigningKey?: string;
  nextSigningKey?: string;
  /** Sign deliveries with the next key (key rotation). */
  signWith?: 'current' | 'next';
  /** Retries per message when the publisher does not set Upstash-Retries. */
  defaultRetries?: number;
  /** Back-off before retry n (1-based), in ms. */
  retryDelayMs?: (retry: number) => number;
  /** How long a deduplication id suppresses repeats; 0 disables deduplication. */
  dedupWindowMs?: number;
  /** Deliver each accepted message this many times, concurrently (at-least-once stress). */
  deliveryCopies?: number;
  /** Random delay before each delivery attempt (out-of-order arrival), ms. */
  deliveryJitterMs?: number;
  /** Do not deliver at all (for publish-side benches). */
  deliver?: boolean;
  /** Max deliveries in flight. */
  maxConcurrentDeliveries?: number;
  /** The clock Upstash-Not-Before is compared with (tests share the app's injected clock). */
  clock?: () => Date;
}

export interface PublishedMessage {
  messageId: string;
  destination: string;
  body: string;
  headers: Record<string, string>;
  dedupId: string | null;
  deduplicated: boolean;
}

export interface DeliveryAttempt {
  messageId: string;
  destination: string;
  status: number | 'error';
  attempt: number;
}

const b64url = (buf: Buffer | string) => Buffer.from(buf).toString('base64url');

/** A QStash-style signature JWT. `overrides` lets tests forge claims (expired, wrong subject …). */
export function signQStashJwt(
  key: string,
  destination: string,
  body: string | Buffer,
  overrides: Partial<Record<'iss' | 'sub' | 'body' | 'exp' | 'nbf' | 'iat' | 'jti', string | number>> = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'HS256', typ: 'JWT' };
  const payload = {
    iss: 'Upstash',
    sub: destination,
    exp: now + 300,
    nbf: now,
    iat: now,
    jti: `jwt_${randomBytes(12).toString('hex')}`,
    body: b64url(createHash('sha256').update(body).digest()),
    ...overrides,
  };
  const unsigned = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = createHmac('sha256', key).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class QStashServer {
  readonly token: string;
  readonly currentSigningKey: string;
  readonly nextSigningKey: string;
  url = '';
  /** Every publish the server accepted (including deduplicated ones), in order. */
  readonly published: PublishedMessage[] = [];
  readonly attempts: DeliveryAttempt[] = [];
  readonly dlq: PublishedMessage[] = [];
  /** Publish/batch requests received (including rejected ones). */
  requests = 0;
  options: Required<QStashServerOptions>;
  private server: http.Server | undefined;
  private dedup = new Map<string, { messageId: string; at: number }>();
  private inFlight = new Set<Promise<void>>();
  private failNext = 0;
  private stopped = false;
  /** Messages waiting for their Upstash-Not-Before. */
  held = 0;
  private active = 0;
  private waiting: (() => void)[] = [];

  constructor(opts: QStashServerOptions = {}) {
    this.token = opts.token ?? `qstash_test_${randomBytes(8).toString('hex')}`;
    this.currentSigningKey = opts.currentSigningKey ?? `sig_current_${randomBytes(12).toString('hex')}`;
    this.nextSigningKey = opts.nextSigningKey ?? `sig_next_${randomBytes(12).toString('hex')}`;
    this.options = {
      token: this.token,
      currentSigningKey: this.currentSigningKey,
      nextSigningKey: this.nextSigningKey,
      signWith: opts.signWith ?? 'current',
      defaultRetries: opts.defaultRetries ?? 3,
      retryDelayMs: opts.retryDelayMs ?? ((n) => 20 * 2 ** (n - 1)),
      dedupWindowMs: opts.dedupWindowMs ?? 10 * 60_000,
      deliveryCopies: opts.deliveryCopies ?? 1,
      deliveryJitterMs: opts.deliveryJitterMs ?? 0,
      deliver: opts.deliver ?? true,
      maxConcurrentDeliveries: opts.maxConcurrentDeliveries ?? 32,
      clock: opts.clock ?? (() => new Date()),
    };
  }

  /** Environment for parseConfig pointing the production client and Receiver here. */
  env(publicUrl: string): Record<string, string> {
    return {
      QSTASH_URL: this.url,
      QSTASH_TOKEN: this.token,
      QSTASH_CURRENT_SIGNING_KEY: this.currentSigningKey,
      QSTASH_NEXT_SIGNING_KEY: this.nextSigningKey,
      PUBLIC_URL: publicUrl,
    };
  }

  /** The next n publish/batch requests answer 500 (QStash outage). */
  failPublishes(n: number): void {
    this.failNext = n;
  }

  /** Forget deduplication ids (as if the window had passed). */
  clearDedup(): void {
    this.dedup.clear();
  }

  async start(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.route(req, res).catch((err) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(err) }));
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  /** Resolves when every accepted message was delivered (or dead-lettered). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/v2/keys') {
      return json(res, 200, { current: this.currentSigningKey, next: this.nextSigningKey });
    }
    if (req.method !== 'POST') return json(res, 405, { error: 'method not allowed' });
    const body = await readBody(req);
    this.requests++;
    if (req.headers.authorization !== `Bearer ${this.token}`) return json(res, 401, { error: 'Unauthorized' });
    if (this.failNext > 0) {
      this.failNext--;
      return json(res, 500, { error: 'injected outage' });
    }
    if (url.startsWith('/v2/publish/')) {
      const destination = decodeURIComponentSafe(url.slice('/v2/publish/'.length));
      const headers = flatHeaders(req.headers);
      const result = this.accept(destination, headers, body.toString('utf8'));
      return json(res, 201, result);
    }
    if (url === '/v2/batch') {
      let messages: { destination?: unknown; headers?: Record<string, string>; body?: unknown }[];
      try {
        messages = JSON.parse(body.toString('utf8'));
        if (!Array.isArray(messages)) throw new Error('not an array');
      } catch {
        return json(res, 400, { error: 'invalid batch body' });
      }
      for (const m of messages) {
        if (typeof m.destination !== 'string' || !/^https?:\/\//.test(m.destination)) {
          return json(res, 400, { error: `invalid destination: ${String(m.destination)}` });
        }
      }
      const results = messages.map((m) =>
        this.accept(m.destination as string, lowerKeys(m.headers ?? {}), typeof m.body === 'string' ? m.body : m.body === undefined ? '' : JSON.stringify(m.body)),
      );
      return json(res, 201, results);
    }
    return json(res, 404, { error: 'not found' });
  }

  private accept(destination: string, headers: Record<string, string>, body: string) {
    const dedupId = headers['upstash-deduplication-id'] ?? null;
    const now = Date.now();
    if (dedupId && this.options.dedupWindowMs > 0) {
      const seen = this.dedup.get(dedupId);
      if (seen && now - seen.at < this.options.dedupWindowMs) {
        this.published.push({ messageId: seen.messageId, destination, body, headers, dedupId, deduplicated: true });
        return { messageId: seen.messageId, url: destination, deduplicated: true };
      }
    }
    const messageId = `msg_${randomUUID().replace(/-/g, '')}`;
    if (dedupId) this.dedup.set(dedupId, { messageId, at: now });
    const message: PublishedMessage = { messageId, destination, body, headers, dedupId, deduplicated: false };
    this.published.push(message);
    if (this.options.deliver) {
      for (let copy = 0; copy < this.options.deliveryCopies; copy++) this.track(this.deliverWithRetries(message));
    }
    return { messageId, url: destination };
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    p.finally(() => this.inFlight.delete(p)).catch(() => {});
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.options.maxConcurrentDeliveries) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private async deliverWithRetries(m: PublishedMessage): Promise<void> {
    // Upstash-Not-Before (unix seconds): held until the server's clock reaches it.
    const notBefore = Number(m.headers['upstash-not-before']) * 1000;
    if (notBefore > this.options.clock().getTime()) {
      this.held++;
      while (!this.stopped && this.options.clock().getTime() < notBefore) await sleep(10);
      this.held--;
      if (this.stopped) return;
    }
    const retriesHeader = Number(m.headers['upstash-retries']);
    const retries = Number.isInteger(retriesHeader) && retriesHeader >= 0 ? retriesHeader : this.options.defaultRetries;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(this.options.retryDelayMs(attempt));
      if (this.options.deliveryJitterMs > 0) await sleep(Math.random() * this.options.deliveryJitterMs);
      const status = await this.slot(() => this.deliverOnce(m, attempt));
      this.attempts.push({ messageId: m.messageId, destination: m.destination, status, attempt });
      if (typeof status === 'number' && status >= 200 && status < 300) return;
    }
    this.dlq.push(m);
  }

  private async deliverOnce(m: PublishedMessage, attempt: number): Promise<number | 'error'> {
    const key = this.options.signWith === 'next' ? this.nextSigningKey : this.currentSigningKey;
    const forwarded: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.headers)) {
      if (k.startsWith('upstash-forward-')) forwarded[k.slice('upstash-forward-'.length)] = v;
    }
    const headers: Record<string, string> = {
      ...forwarded,
      'content-type': m.headers['content-type'] ?? 'text/plain',
      'upstash-signature': signQStashJwt(key, m.destination, m.body),
      'upstash-message-id': m.messageId,
      'upstash-retried': String(attempt),
      'user-agent': 'Upstash-QStash',
    };
    try {
      const res = await fetch(m.destination, { method: 'POST', headers, body: m.body, signal: AbortSignal.timeout(15_000) });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch {
      return 'error';
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function flatHeaders(h: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
