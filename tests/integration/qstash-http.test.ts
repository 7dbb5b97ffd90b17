import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../lib/bus/events.js';
import { createBus } from '../../lib/bus/index.js';
import { publish } from '../../lib/bus/outbox.js';
import { qstashTransport, type Delivery } from '../../lib/bus/relay.js';
import { parseConfig } from '../../lib/config.js';
import { createDb } from '../../lib/db/client.js';
import { silentLogger } from '../../lib/log.js';
import { registerUser } from '../../lib/users/registration.js';
import { Telegram } from 'telegraf';
import { moduleSubscribers } from '../../lib/app.js';
import { fixedCatalogue, parseCatalogue } from '../../lib/gamification/content.js';
import { countRows, isolatedDatabase } from '../support/bus.js';
import { uniqueTelegramId } from '../support/db.js';
import { QStashServer } from '../support/qstash-server.js';

// lib/bus/qstash-http.ts: the QStash client's requests over node:http must be what its own fetch sends,
// and fail the same way — the relay keeps a failed row for the sweep whatever the failure.
const qstash = await new QStashServer({ deliver: false, dedupWindowMs: 0 }).start();
afterAll(() => qstash.stop());

const publicUrl = 'http://127.0.0.1:9/app';
const deliveries = (tag: string, n = 3): Delivery[] =>
  Array.from({ length: n }, (_, i) => ({
    rowId: i + 1,
    eventId: `${tag}-${i}`,
    type: 'gamification.besitos_earned',
    subscriber: i % 2 ? 'audit' : 'gamification',
    body: JSON.stringify({ n: i, text: 'ñandú ✓' }),
    ...(i === 2 ? { notBefore: Date.now() + 60_000 } : {}),
  }));

/** A server answering every request with `status`, `headers` and `body` (or never, with status 0). */
async function fixedServer(status: number, headers: Record<string, string> = {}, body = ''): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    req.resume();
    if (status === 0) return; // hang
    res.writeHead(status, headers);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  await new Promise((r) => s.close(r));
  return url;
}

const both = (baseUrl: string, token: string, extra: { requestTimeoutMs?: number } = {}) =>
  [true, false].map((leanHttp) => qstashTransport({ baseUrl, token, publicUrl, leanHttp, ...extra }));

describe('QStash requests over node:http', () => {
  it('sends the batch the client builds, byte for byte as its fetch does', async () => {
    const [lean, sdk] = both(qstash.url, qstash.token);
    const before = qstash.published.length;
    expect((await lean!.send(deliveries('x'))).size).toBe(0);
    expect((await sdk!.send(deliveries('x'))).size).toBe(0);
    const sent = qstash.published.slice(before);
    expect(sent).toHaveLength(6);
    const strip = (m: (typeof sent)[number]) => {
      const { 'upstash-not-before': nb, ...headers } = m.headers;
      return { destination: m.destination, body: m.body, dedupId: m.dedupId, headers, delayed: nb !== undefined };
    };
    expect(sent.slice(0, 3).map(strip)).toEqual(sent.slice(3).map(strip));
    expect(sent[0]!.dedupId).toBe('x-0:gamification');
    expect(sent[0]!.destination).toBe(`${publicUrl}/api/events/gamification`);
    expect(sent[0]!.body).toBe(JSON.stringify({ n: 0, text: 'ñandú ✓' }));
    expect(sent[2]!.headers['upstash-not-before']).toMatch(/^\d+$/);
  });

  it('keeps the connection open between requests', async () => {
    const sockets = new Set<unknown>();
    const server = http.createServer((req, res) => {
      sockets.add(req.socket);
      req.resume().on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end('[]');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const [lean] = both(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 't');
    for (let i = 0; i < 5; i++) expect((await lean!.send(deliveries(`k${i}`, 1))).size).toBe(0);
    expect(sockets.size).toBe(1);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('a refused token or an outage fails the rows with the same reason as the client', async () => {
    const wrong = both(qstash.url, 'not-the-token');
    const reasons = await Promise.all(wrong.map(async (t) => [...(await t.send(deliveries('w'))).values()]));
    expect(reasons[0]).toHaveLength(3);
    expect(reasons[0]).toEqual(reasons[1]);
    expect(reasons[0]![0]).toBe('QstashError: {"error":"Unauthorized"}');

    const outage: string[][] = [];
    for (const t of both(qstash.url, qstash.token)) {
      qstash.failPublishes(1);
      outage.push([...(await t.send(deliveries('o'))).values()]);
    }
    expect(outage[0]).toEqual(outage[1]);
    expect(outage[0]![0]).toMatch(/injected outage/);
  });

  it('a 429 is the client\'s rate-limit error, with the limits of the answer', async () => {
    const s = await fixedServer(429, { 'Burst-RateLimit-Limit': '100', 'Burst-RateLimit-Remaining': '0', 'Burst-RateLimit-Reset': '1700000000' }, 'slow down');
    try {
      const reasons = await Promise.all(both(s.url, 't').map(async (t) => [...(await t.send(deliveries('r', 1))).values()][0]));
      expect(reasons[0]).toBe(reasons[1]);
      expect(reasons[0]).toMatch(/^QstashRatelimitError: Exceeded burst rate limit.*"limit":"100"/);
    } finally {
      await s.close();
    }
  });

  it('a refused connection is retried once, then the rows fail with the network error', async () => {
    const url = await closedPort();
    const [lean] = both(url, 't');
    const failed = await lean!.send(deliveries('c'));
    expect(failed.size).toBe(3);
    expect([...failed.values()][0]).toMatch(/ECONNREFUSED/);
  });

  it('an answer that never comes fails the rows after the request timeout', async () => {
    const s = await fixedServer(0);
    try {
      const [lean] = both(s.url, 't', { requestTimeoutMs: 300 });
      const t0 = Date.now();
      const failed = await lean!.send(deliveries('t', 1));
      expect(failed.size).toBe(1);
      expect([...failed.values()][0]).toMatch(/timed out/);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await s.close();
    }
  });
});

const dbUrl = await isolatedDatabase();
const db = createDb(dbUrl, { max: 4 });
afterAll(() => db.end({ timeout: 5 }));

describe('the after-commit relay with QStash unreachable', () => {
  const subscribers = moduleSubscribers({ telegram: new Telegram('1:unused', { webhookReply: false }), catalogue: fixedCatalogue(parseCatalogue({})) });
  const env = { DIANABOT_MODE: 'test', DATABASE_URL: dbUrl, TELEGRAM_BOT_TOKEN: '123456:TEST-token-for-the-local-bot-api-stub', TELEGRAM_WEBHOOK_SECRET: 'test-webhook-secret', LOG_LEVEL: 'silent' };

  it('leaves the written row in the outbox with the error; the sweep publishes it once QStash is back', async () => {
    const userId = (await registerUser(db, { id: uniqueTelegramId(), first_name: 'Bus' })).id;
    const event = createEvent('gamification.besitos_earned', { amount: 1, source: 'admin:qstash_http', transaction_id: 1, balance_after: 1 }, userId);
    await db.begin((tx) => publish(tx, event));
    const down = createBus(parseConfig({ ...env, ...qstash.env(publicUrl), QSTASH_URL: await closedPort() }), { db, log: silentLogger, timeZone: 'UTC', subscribers }, { backoffSeconds: () => 0 });
    await down.afterCommit([event.event_id]).catch(() => {});
    await down.idle();
    const [row] = await db<{ published_at: Date | null; attempts: number; last_error: string }[]>`
      SELECT published_at, attempts, last_error FROM outbox WHERE event_id = ${event.event_id}`;
    expect(row!.published_at).toBeNull();
    expect(row!.attempts).toBe(1);
    expect(row!.last_error).toMatch(/ECONNREFUSED/);
    await down.close();

    const up = createBus(parseConfig({ ...env, ...qstash.env(publicUrl) }), { db, log: silentLogger, timeZone: 'UTC', subscribers });
    const before = qstash.published.length;
    await up.sweep();
    expect(qstash.published.slice(before).filter((m) => m.dedupId?.startsWith(event.event_id)).length).toBeGreaterThan(0);
    expect(await countRows(db, 'outbox', `event_id = '${event.event_id}' AND published_at IS NULL`)).toBe(0);
    await up.close();
  });
});
