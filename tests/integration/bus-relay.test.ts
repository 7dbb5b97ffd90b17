import { randomBytes } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { createBus } from '../../lib/bus/index.js';
import { createGamificationSubscriber } from '../../lib/gamification/subscriber.js';
import { fixedCatalogue, parseCatalogue } from '../../lib/gamification/content.js';

import { createEvent } from '../../lib/bus/events.js';
import { publish } from '../../lib/bus/outbox.js';
import { qstashTransport } from '../../lib/bus/relay.js';
import { parseConfig } from '../../lib/config.js';
import { createDb } from '../../lib/db/client.js';
import { silentLogger } from '../../lib/log.js';
import { registerUser } from '../../lib/users/registration.js';
import { countRows, eventually, isolatedDatabase, startApiServer, useApp } from '../support/bus.js';
import { Telegram } from 'telegraf';
import { createApp, moduleSubscribers } from '../../lib/app.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { uniqueTelegramId } from '../support/db.js';
import { QStashServer } from '../support/qstash-server.js';

// Delivery is what these tests are about: the subscriber's besitos statistics, no catalogue.
const gamificationSubscriber = createGamificationSubscriber({ catalogue: fixedCatalogue(parseCatalogue({})) });

const dbUrl = await isolatedDatabase();
const db = createDb(dbUrl, { max: 12 });
afterAll(() => db.end({ timeout: 5 }));

const qstash = await new QStashServer({ retryDelayMs: (n) => 10 * n }).start();
afterAll(() => qstash.stop());
const api = await startApiServer();

const baseEnv = {
  DIANABOT_MODE: 'test',
  DATABASE_URL: dbUrl,
  TELEGRAM_BOT_TOKEN: '123456:TEST-token-for-the-local-bot-api-stub',
  TELEGRAM_WEBHOOK_SECRET: 'test-webhook-secret',
  LOG_LEVEL: 'silent',
};
const config = parseConfig({ ...baseEnv, ...qstash.env(api.url) });
const app = await createApp(config, { db, kv: createMemoryStore(), log: silentLogger, bus: { backoffSeconds: () => 0.05 } });
afterAll(() => app.close());
useApp(app);

/** A fresh source name per test: statistics rows are per (day, source). */
/** The app's wiring of module subscribers, for the bare buses below. */
const subscribers = moduleSubscribers({ telegram: new Telegram('1:unused', { webhookReply: false }), catalogue: fixedCatalogue(parseCatalogue({})) });
// A detail of the policy's 'admin' source (lib/besitos/policy.ts: `family:detail` names are of the family).
const newSource = () => `admin:t_${randomBytes(5).toString('hex')}`;

async function newUser(): Promise<number> {
  return (await registerUser(db, { id: uniqueTelegramId(), first_name: 'Bus' })).id;
}

/** n grants through the ledger (each writes its besitos_earned event to the outbox). */
async function grants(n: number, source: string): Promise<number> {
  const userId = await newUser();
  for (let i = 0; i < n; i++) {
    await grantBesitos(db, { userId, amount: 1 + i, source, idempotencyKey: `${source}:${i}` });
  }
  return userId;
}

async function statsFor(source: string) {
  const rows = await db<{ earned: number; earned_count: number }[]>`
    SELECT sum(earned)::int AS earned, sum(earned_count)::int AS earned_count FROM besitos_source_stats WHERE source = ${source}`;
  return rows[0] ?? { earned: 0, earned_count: 0 };
}

async function auditRowsFor(userId: number) {
  return countRows(db, 'event_log', `user_id = ${userId}`);
}

async function pendingRows() {
  return countRows(db, 'outbox', 'published_at IS NULL');
}

const sumTo = (n: number) => (n * (n + 1)) / 2;

beforeEach(async () => {
  qstash.options.deliveryCopies = 1;
  qstash.options.deliveryJitterMs = 0;
  qstash.options.dedupWindowMs = 600_000;
  qstash.options.deliver = true;
  await qstash.idle();
});

describe('outbox relay through QStash', () => {
  it('publishes nothing for a rolled-back transaction', async () => {
    const userId = await newUser();
    const event = createEvent('gamification.item_used', { item_key: 'pista', quantity: 1 }, userId);
    await expect(
      db.begin(async (tx) => {
        await publish(tx, event);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect(await countRows(db, 'outbox', `event_id = '${event.event_id}'`)).toBe(0);
    await app.bus.sweep();
    expect(qstash.published.some((m) => m.dedupId?.startsWith(event.event_id))).toBe(false);
  });

  it('rejects an event that does not match the catalogue at publish time', async () => {
    const bad = createEvent('gamification.item_used', { item_key: '', quantity: 0 } as never, 1);
    await expect(db.begin((tx) => publish(tx, bad))).rejects.toThrow(/invalid gamification.item_used/);
  });

  it('publishes one message per (event, subscriber) with the dedup id, and each effect happens once', async () => {
    const source = newSource();
    const userId = await grants(5, source);
    const before = qstash.published.length;
    const report = await app.bus.sweep();
    expect(report.published).toBeGreaterThanOrEqual(5);
    await qstash.idle();
    const mine = qstash.published.slice(before).filter((m) => m.body.includes(source));
    expect(mine).toHaveLength(10); // audit + gamification
    for (const m of mine) {
      const event = JSON.parse(m.body);
      const subscriber = m.destination.split('/').pop();
      expect(m.dedupId).toBe(`${event.event_id}:${subscriber}`);
      expect(m.destination).toBe(`${api.url}/api/events/${subscriber}`);
      expect(m.headers['content-type']).toBe('application/json');
    }
    expect(await auditRowsFor(userId)).toBe(5);
    expect(await statsFor(source)).toEqual({ earned: sumTo(5), earned_count: 5 });
    expect(await pendingRows()).toBe(0);
  });

  it('absorbs every event delivered 3×, out of order and concurrently', async () => {
    qstash.options.deliveryCopies = 3;
    qstash.options.deliveryJitterMs = 40;
    const source = newSource();
    const userId = await grants(12, source);
    const before = qstash.attempts.length;
    await app.bus.sweep();
    await qstash.idle();
    const attempts = qstash.attempts.slice(before);
    expect(attempts.length).toBeGreaterThanOrEqual(12 * 2 * 3);
    expect(attempts.every((a) => a.status === 200)).toBe(true);
    expect(await auditRowsFor(userId)).toBe(12);
    expect(await statsFor(source)).toEqual({ earned: sumTo(12), earned_count: 12 });
    expect(await countRows(db, 'processed_events', `event_id IN (SELECT event_id FROM outbox WHERE user_id = ${userId})`)).toBe(24);
  });

  it('a relay that crashes after publishing and before marking sent publishes again; duplicates are absorbed', async () => {
    const source = newSource();
    const userId = await grants(4, source);
    let crashes = 1;
    const crashing = createBus(config, { db, log: silentLogger, timeZone: config.timeZone, subscribers }, {
      afterPublish: async () => {
        if (crashes-- > 0) throw new Error('relay crashed');
      },
    });
    const before = qstash.published.length;
    await expect(crashing.sweep()).rejects.toThrow('relay crashed');
    expect(await pendingRows()).toBeGreaterThanOrEqual(4); // nothing was marked sent
    await qstash.idle();
    expect(await auditRowsFor(userId)).toBe(4); // but it was delivered

    // Within QStash's deduplication window the republish is dropped by QStash …
    await crashing.sweep();
    const republished = qstash.published.slice(before).filter((m) => m.body.includes(source));
    expect(republished).toHaveLength(16);
    expect(republished.filter((m) => m.deduplicated)).toHaveLength(8);

    // … and after it, the subscribers absorb the duplicate.
    await db`UPDATE outbox SET published_at = NULL WHERE user_id = ${userId}`;
    qstash.clearDedup();
    const deliveredBefore = qstash.attempts.length;
    await crashing.sweep();
    await qstash.idle();
    expect(qstash.attempts.length - deliveredBefore).toBeGreaterThanOrEqual(8);
    expect(await auditRowsFor(userId)).toBe(4);
    expect(await statsFor(source)).toEqual({ earned: sumTo(4), earned_count: 4 });
    await crashing.close();
  });

  it("the after-commit relay leases a request's own rows in 2 statements; if the instance dies after publishing, the sweep republishes them once the lease ends, deduplicated", async () => {
    const source = newSource();
    const userId = await newUser();
    const events = Array.from({ length: 3 }, (_, i) =>
      createEvent('gamification.besitos_earned', { amount: 1, source, transaction_id: i + 1, balance_after: i + 1 }, userId),
    );
    await db.begin((tx) => publish(tx, ...events));
    const ids = events.map((e) => e.event_id);
    const statements: string[] = [];
    const counted = createDb(dbUrl, { max: 2, onQuery: (q) => statements.push(q) });
    let dying = true;
    const bus = createBus(config, { db: counted, log: silentLogger, timeZone: config.timeZone, subscribers }, {
      // The instance freezes for good right after publishing (a serverless function that is killed).
      afterPublish: () => (dying ? new Promise<void>(() => {}) : Promise.resolve()),
    });
    const mine = () => qstash.published.filter((m) => m.body.includes(source));
    void bus.afterCommit(ids);
    await eventually(async () => mine().length === 6); // 3 events × 2 subscribers: published, never marked sent
    await qstash.idle();
    expect(await auditRowsFor(userId)).toBe(3);
    expect(await countRows(db, 'outbox', `user_id = ${userId} AND published_at IS NULL AND next_attempt_at > now()`)).toBe(3);
    dying = false;
    await bus.sweep(); // leased: not due yet
    expect(mine()).toHaveLength(6);

    await db`UPDATE outbox SET next_attempt_at = now() WHERE user_id = ${userId}`; // the lease ended
    statements.length = 0;
    await bus.afterCommit(ids);
    expect(statements.map((q) => q.trim().split(/\s+/)[0])).toEqual(['UPDATE', 'UPDATE']); // the claim, the settle: no transaction
    expect(mine().filter((m) => !m.deduplicated)).toHaveLength(6);
    expect(await countRows(db, 'outbox', `user_id = ${userId} AND published_at IS NULL`)).toBe(0);
    await qstash.idle();
    expect(await auditRowsFor(userId)).toBe(3);
    await bus.close();
    await counted.end({ timeout: 5 });
  });

  it('an after-commit relay that fails after publishing (and lives) gives its rows back at once', async () => {
    const source = newSource();
    const userId = await newUser();
    const event = createEvent('gamification.besitos_earned', { amount: 1, source, transaction_id: 1, balance_after: 1 }, userId);
    await db.begin((tx) => publish(tx, event));
    const bus = createBus(config, { db, log: silentLogger, timeZone: config.timeZone, subscribers }, {
      afterPublish: async () => {
        throw new Error('settle refused');
      },
    });
    await expect(bus.afterCommit([event.event_id])).rejects.toThrow('settle refused');
    expect(await countRows(db, 'outbox', `user_id = ${userId} AND published_at IS NULL AND next_attempt_at <= now()`)).toBe(1);
    await bus.close();
  });

  it('QStash answering 500s: rows back off with the error, then everything is processed exactly once', async () => {
    const source = newSource();
    const userId = await grants(6, source);
    qstash.failPublishes(2); // two failed passes in a row, then QStash is back
    // The back-off (50 ms here) is compared with the sweep's start, not with "now": a slow sweep on a
    // loaded machine can outlast it.
    const started = (await db<{ t: Date }[]>`SELECT now() AS t`)[0]!.t;
    const first = await app.bus.sweep();
    expect(first.failed).toBeGreaterThanOrEqual(6);
    expect(first.published).toBe(0);
    const [row] = await db<{ attempts: number; last_error: string; due: boolean }[]>`
      SELECT attempts, last_error, next_attempt_at > ${started} AS due FROM outbox WHERE user_id = ${userId} LIMIT 1`;
    expect(row!.attempts).toBe(1);
    expect(row!.last_error).toMatch(/injected outage|500/);
    expect(row!.due).toBe(true);

    await eventually(async () => {
      await app.bus.sweep();
      return (await pendingRows()) === 0;
    });
    await qstash.idle();
    expect(await auditRowsFor(userId)).toBe(6);
    expect(await statsFor(source)).toEqual({ earned: sumTo(6), earned_count: 6 });
  });

  it('subscribers failing transiently get redelivered by QStash until they succeed, once', async () => {
    let failures = 3;
    const flaky = await createApp(config, {
      db,
      kv: createMemoryStore(),
      log: silentLogger,
      bus: {
        handlers: {
          gamification: async (tx, event, ctx) => {
            if (failures-- > 0) throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
            await gamificationSubscriber(tx, event, ctx);
          },
        },
      },
    });
    useApp(flaky);
    try {
      const source = newSource();
      const userId = await grants(1, source);
      const before = qstash.attempts.length;
      await flaky.bus.sweep();
      await qstash.idle();
      const statuses = qstash.attempts.slice(before).filter((a) => a.destination.endsWith('/gamification')).map((a) => a.status);
      expect(statuses).toEqual([503, 503, 503, 200]);
      expect(await statsFor(source)).toEqual({ earned: 1, earned_count: 1 });
      expect(await auditRowsFor(userId)).toBe(1);
    } finally {
      useApp(app);
      await flaky.close();
    }
  });

  it('two relays running at once never publish the same row twice', async () => {
    qstash.options.dedupWindowMs = 0; // count every publish
    qstash.options.deliver = false;
    const source = newSource();
    const userId = await newUser();
    const events = Array.from({ length: 400 }, (_, i) =>
      createEvent('gamification.besitos_earned', { amount: 1, source, transaction_id: i + 1, balance_after: i + 1 }, userId),
    );
    await db.begin((tx) => publish(tx, ...events));
    const relays = [1, 2, 3].map(() =>
      createBus(config, { db, log: silentLogger, timeZone: config.timeZone, subscribers }, {
        batchSize: 25,
        transport: qstashTransport({ baseUrl: qstash.url, token: qstash.token, publicUrl: api.url, maxMessagesPerRequest: 20 }),
      }),
    );
    const before = qstash.published.length;
    const reports = await Promise.all(relays.map((r) => r.sweep()));
    expect(reports.filter((r) => r.published > 0).length).toBeGreaterThan(1); // they really ran concurrently
    const mine = qstash.published.slice(before).filter((m) => m.body.includes(source));
    const perId = new Map<string, number>();
    for (const m of mine) perId.set(m.dedupId!, (perId.get(m.dedupId!) ?? 0) + 1);
    expect(perId.size).toBe(800);
    expect([...perId.values()].every((n) => n === 1)).toBe(true);
    expect(await countRows(db, 'outbox', `user_id = ${userId} AND published_at IS NULL`)).toBe(0);
    await Promise.all(relays.map((r) => r.close()));
  });
});

describe('outbox relay without QStash (in-process delivery)', () => {
  const localConfig = parseConfig(baseEnv);

  it('delivers to the same handlers, keeps a row pending until every subscriber committed, once per subscriber', async () => {
    let failGamification = true;
    const local = createBus(localConfig, { db, log: silentLogger, timeZone: localConfig.timeZone, subscribers }, {
      backoffSeconds: () => 0.05,
      handlers: {
        gamification: async (tx, event, ctx) => {
          if (failGamification) throw new Error('gamification is down');
          await gamificationSubscriber(tx, event, ctx);
        },
      },
    });
    expect(local.mode).toBe('local');
    const source = newSource();
    const userId = await grants(3, source);
    const first = await local.sweep();
    expect(first.failed).toBeGreaterThanOrEqual(3);
    expect(await auditRowsFor(userId)).toBe(3); // audit committed on its own
    expect(await countRows(db, 'outbox', `user_id = ${userId} AND published_at IS NULL AND last_error LIKE '%gamification is down%'`)).toBe(3);

    failGamification = false;
    await new Promise((r) => setTimeout(r, 100));
    await local.sweep();
    expect(await countRows(db, 'outbox', `user_id = ${userId} AND published_at IS NULL`)).toBe(0);
    expect(await auditRowsFor(userId)).toBe(3);
    expect(await statsFor(source)).toEqual({ earned: 6, earned_count: 3 });
    expect(await countRows(db, 'processed_events', `subscriber = 'audit' AND event_id IN (SELECT event_id FROM outbox WHERE user_id = ${userId})`)).toBe(3);
    await local.close();
  });

  it('works with a pool of one connection (no connection is held while handlers run)', async () => {
    const single = createDb(dbUrl, { max: 1 });
    const local = createBus(localConfig, { db: single, log: silentLogger, timeZone: localConfig.timeZone, subscribers });
    const source = newSource();
    const userId = await grants(3, source);
    const report = await Promise.race([
      local.sweep(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('relay deadlocked on its own pool')), 10_000)),
    ]);
    expect(report.failed).toBe(0);
    expect(await auditRowsFor(userId)).toBe(3);
    expect(await statsFor(source)).toEqual({ earned: 6, earned_count: 3 });
    await local.close();
    await single.end({ timeout: 5 });
  });

  it('two in-process relays at once: every event processed once per subscriber', async () => {
    const source = newSource();
    const userId = await newUser();
    const events = Array.from({ length: 150 }, (_, i) =>
      createEvent('gamification.besitos_earned', { amount: 1, source, transaction_id: i + 1, balance_after: i + 1 }, userId),
    );
    await db.begin((tx) => publish(tx, ...events));
    const relays = [1, 2].map(() => createBus(localConfig, { db, log: silentLogger, timeZone: localConfig.timeZone, subscribers }, { batchSize: 20 }));
    await Promise.all(relays.map((r) => r.sweep()));
    expect(await countRows(db, 'outbox', `user_id = ${userId} AND published_at IS NULL`)).toBe(0);
    expect(await auditRowsFor(userId)).toBe(150);
    expect(await statsFor(source)).toEqual({ earned: 150, earned_count: 150 });
    await Promise.all(relays.map((r) => r.close()));
  });

  it('afterCommit relays in the background; idle() waits for it', async () => {
    const local = createBus(localConfig, { db, log: silentLogger, timeZone: localConfig.timeZone, subscribers });
    const source = newSource();
    const userId = await grants(2, source);
    await local.afterCommit();
    await local.idle();
    expect(await auditRowsFor(userId)).toBe(2);
    expect(await statsFor(source)).toEqual({ earned: 3, earned_count: 2 });
    await local.close();
  });
});

describe('QStash stand-in', () => {
  it('accepts the client\'s single publish and delivers a signature the Receiver accepts', async () => {
    const { Client } = await import('@upstash/qstash');
    const client = new Client({ baseUrl: qstash.url, token: qstash.token, devMode: false, enableTelemetry: false });
    const source = newSource();
    const event = createEvent('gamification.besitos_earned', { amount: 4, source, transaction_id: 1, balance_after: 4 }, 5);
    const res = await client.publish({
      url: `${api.url}/api/events/gamification`,
      body: JSON.stringify(event),
      headers: { 'Content-Type': 'application/json', 'X-Trace': 'abc' },
      deduplicationId: `${event.event_id}:gamification`,
    });
    expect(res.messageId).toMatch(/^msg_/);
    const again = await client.publish({ url: `${api.url}/api/events/gamification`, body: JSON.stringify(event), deduplicationId: `${event.event_id}:gamification` });
    expect(again).toMatchObject({ messageId: res.messageId, deduplicated: true });
    await qstash.idle();
    expect(await statsFor(source)).toEqual({ earned: 4, earned_count: 1 });
    const [m] = qstash.published.filter((p) => p.messageId === res.messageId);
    expect(m!.headers['upstash-forward-x-trace']).toBe('abc');
  });

  it('signs with the next key after a rotation; the subscriber still accepts', async () => {
    qstash.options.signWith = 'next';
    try {
      const source = newSource();
      const userId = await grants(2, source);
      await app.bus.sweep();
      await qstash.idle();
      expect(await auditRowsFor(userId)).toBe(2);
      expect(await statsFor(source)).toEqual({ earned: 3, earned_count: 2 });
    } finally {
      qstash.options.signWith = 'current';
    }
  });

  it('rejects a wrong token and malformed batches', async () => {
    const post = (body: string, token = qstash.token) =>
      fetch(`${qstash.url}/v2/batch`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body });
    expect((await post('[]', 'wrong')).status).toBe(401);
    expect((await post('{')).status).toBe(400);
    expect((await post(JSON.stringify([{ destination: 'not a url', body: '' }]))).status).toBe(400);
  });
});
