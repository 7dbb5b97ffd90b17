import { randomBytes, randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app.js';
import { createBus } from '../../lib/bus/index.js';
import { createGamificationSubscriber } from '../../lib/gamification/subscriber.js';
import { fixedCatalogue, parseCatalogue } from '../../lib/gamification/content.js';

import { createEvent } from '../../lib/bus/events.js';
import { processEvent } from '../../lib/bus/receive.js';
import type { HandlerContext, SubscriberHandler } from '../../lib/bus/subscriber.js';
import { readRawBody } from '../../api/_lib/http.js';
import { parseConfig } from '../../lib/config.js';
import { createDb } from '../../lib/db/client.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { silentLogger } from '../../lib/log.js';
import { countRows, isolatedDatabase, startApiServer, useApp } from '../support/bus.js';
import { QStashServer, signQStashJwt } from '../support/qstash-server.js';

// Delivery is what these tests are about: the subscriber's besitos statistics, no catalogue.
const gamificationSubscriber = createGamificationSubscriber({ catalogue: fixedCatalogue(parseCatalogue({})) });

const dbUrl = await isolatedDatabase();
const db = createDb(dbUrl, { max: 12 });
afterAll(() => db.end({ timeout: 5 }));
const qstash = new QStashServer(); // only its keys and signer: these tests post deliveries themselves
const api = await startApiServer();
const config = parseConfig({
  DIANABOT_MODE: 'test',
  DATABASE_URL: dbUrl,
  TELEGRAM_BOT_TOKEN: '123456:TEST-token-for-the-local-bot-api-stub',
  TELEGRAM_WEBHOOK_SECRET: 'test-webhook-secret',
  LOG_LEVEL: 'silent',
  CRON_SECRET: 'cron-secret-for-tests',
  ...qstash.env(api.url),
  QSTASH_URL: 'http://127.0.0.1:9', // nothing is published in this file
});
const app = await createApp(config, { db, kv: createMemoryStore(), log: silentLogger });
afterAll(() => app.close());
useApp(app);

const urlOf = (subscriber: string) => `${api.url}/api/events/${subscriber}`;

function earned(source: string, userId = 7) {
  return createEvent('gamification.besitos_earned', { amount: 3, source, transaction_id: 1, balance_after: 3 }, userId);
}

async function deliver(subscriber: string, body: string, signature: string | null = signQStashJwt(qstash.currentSigningKey, urlOf(subscriber), body)) {
  const res = await fetch(urlOf(subscriber), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature ? { 'upstash-signature': signature } : {}) },
    body,
  });
  return { status: res.status, body: await res.text() };
}

async function stats(source: string) {
  const [r] = await db<{ earned: number; earned_count: number }[]>`
    SELECT coalesce(sum(earned), 0)::int AS earned, coalesce(sum(earned_count), 0)::int AS earned_count FROM besitos_source_stats WHERE source = ${source}`;
  return r!;
}

describe('api/events/<subscriber>: signature on the raw body', () => {
  it('accepts the current and the next signing key', async () => {
    const e1 = JSON.stringify(earned(`s_${randomBytes(4).toString('hex')}`));
    expect(await deliver('audit', e1)).toEqual({ status: 200, body: 'processed' });
    const e2 = JSON.stringify(earned(`s_${randomBytes(4).toString('hex')}`));
    expect(await deliver('audit', e2, signQStashJwt(qstash.nextSigningKey, urlOf('audit'), e2))).toEqual({ status: 200, body: 'processed' });
  });

  it.each([
    ['no signature', () => null],
    ['a forged key', (b: string) => signQStashJwt('sig_forged_key_000000000000', urlOf('gamification'), b)],
    ['an expired token', (b: string) => signQStashJwt(qstash.currentSigningKey, urlOf('gamification'), b, { exp: Math.floor(Date.now() / 1000) - 120, iat: Math.floor(Date.now() / 1000) - 600, nbf: Math.floor(Date.now() / 1000) - 600 })],
    ['a token not valid yet', (b: string) => signQStashJwt(qstash.currentSigningKey, urlOf('gamification'), b, { nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['another issuer', (b: string) => signQStashJwt(qstash.currentSigningKey, urlOf('gamification'), b, { iss: 'NotUpstash' })],
    ['a token for another subscriber', (b: string) => signQStashJwt(qstash.currentSigningKey, urlOf('audit'), b)],
    ['a token for another body', () => signQStashJwt(qstash.currentSigningKey, urlOf('gamification'), '{"tampered":true}')],
    ['a garbage header', () => 'not.a.jwt'],
  ])('rejects %s with 401 and no effect', async (_name, sign) => {
    const source = `s_${randomBytes(4).toString('hex')}`;
    const body = JSON.stringify(earned(source));
    const res = await deliver('gamification', body, sign(body));
    expect(res.status).toBe(401);
    expect(await stats(source)).toEqual({ earned: 0, earned_count: 0 });
    expect(await countRows(db, 'processed_events', `event_id = '${JSON.parse(body).event_id}'`)).toBe(0);
  });

  it('verifies the bytes as sent: re-serialised JSON with other spacing fails, the exact bytes pass', async () => {
    const event = earned(`s_${randomBytes(4).toString('hex')}`);
    const pretty = JSON.stringify(event, null, 2);
    const compact = JSON.stringify(event);
    expect((await deliver('audit', compact, signQStashJwt(qstash.currentSigningKey, urlOf('audit'), pretty))).status).toBe(401);
    expect((await deliver('audit', pretty)).status).toBe(200);
  });

  it('answers 404 for an unknown subscriber and 405 for GET', async () => {
    expect((await app.bus.receive('nobody', { method: 'POST', headers: {}, body: '{}' })).status).toBe(404);
    expect((await fetch(urlOf('audit'))).status).toBe(405);
  });
});

describe('api/events/<subscriber>: once per (subscriber, event)', () => {
  it('the same event 3× concurrently and in any order: one effect, the others are duplicates', async () => {
    const source = `s_${randomBytes(4).toString('hex')}`;
    const events = Array.from({ length: 10 }, () => JSON.stringify(earned(source)));
    const copies = events.flatMap((b) => [b, b, b]).sort(() => Math.random() - 0.5);
    const results = await Promise.all(copies.map((b) => deliver('gamification', b)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => r.body === 'processed')).toHaveLength(10);
    expect(results.filter((r) => r.body === 'duplicate')).toHaveLength(20);
    expect(await stats(source)).toEqual({ earned: 30, earned_count: 10 });
  });

  it('audit stores each event once with its data as published', async () => {
    const event = { ...earned(`s_${randomBytes(4).toString('hex')}`, 99), extra_field: 'ignored' };
    (event.data as Record<string, unknown>).note = 'kept in the audit log';
    const body = JSON.stringify(event);
    await Promise.all([deliver('audit', body), deliver('audit', body)]);
    const rows = await db<{ type: string; user_id: number; data: Record<string, unknown> }[]>`
      SELECT type, user_id, data FROM event_log WHERE event_id = ${event.event_id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'gamification.besitos_earned', user_id: 99, data: { amount: 3, note: 'kept in the audit log' } });
  });

  it('an event not routed to the subscriber is acknowledged and ignored', async () => {
    const e = JSON.stringify(createEvent('admin.content_published', { content_type: 'channel_post', content_key: 'p1', channel_id: -100123 }));
    expect(await deliver('gamification', e)).toEqual({ status: 200, body: 'ignored' });
    expect(await countRows(db, 'processed_events', `event_id = '${JSON.parse(e).event_id}'`)).toBe(0);
  });
});

describe('api/events/<subscriber>: bad events are kept, acknowledged, never retried', () => {
  it.each([
    ['an unknown type', () => JSON.stringify({ ...earned('x'), type: 'gamification.besitos_stolen' }), /unknown event type/],
    ['a missing field', () => JSON.stringify({ ...earned('x'), data: { amount: 3, source: 'x', balance_after: 3 } }), /transaction_id/],
    ['a body that is not JSON', () => `{"event_id": "${randomUUID()}", oops`, /not JSON/],
  ])('%s → 200 and a dead_events row (once per event id)', async (_name, make, reason) => {
    const body = make();
    const before = await countRows(db, 'dead_events');
    expect(await deliver('audit', body)).toEqual({ status: 200, body: 'dead' });
    expect(await deliver('audit', body)).toEqual({ status: 200, body: 'dead' });
    const rows = await db<{ reason: string; body: string }[]>`SELECT reason, body FROM dead_events ORDER BY id DESC LIMIT 1`;
    expect(rows[0]!.reason).toMatch(reason);
    expect(rows[0]!.body).toBe(body);
    const added = (await countRows(db, 'dead_events')) - before;
    expect(added).toBe(body.includes('oops') ? 2 : 1); // without a parsable event id each copy is kept
  });
});

describe('api/events/<subscriber>: failures', () => {
  it('answers 503 when the database is unreachable, so QStash retries', async () => {
    const deadDb = createDb('postgres://postgres@127.0.0.1:1/nothing', { max: 1 });
    const bus = createBus(config, { db: deadDb, log: silentLogger, timeZone: config.timeZone, subscribers: { gamification: gamificationSubscriber } });
    const body = JSON.stringify(earned('x'));
    const res = await bus.receive('gamification', {
      method: 'POST',
      headers: { 'upstash-signature': signQStashJwt(qstash.currentSigningKey, urlOf('gamification'), body) },
      body,
    });
    expect(res.status).toBe(503);
    await deadDb.end({ timeout: 1 });
  });

  it('a subscriber the app did not wire answers 500 (retried), never an acknowledgement without its effect', async () => {
    const bus = createBus(config, { db, log: silentLogger, timeZone: config.timeZone });
    const body = JSON.stringify(earned('x'));
    const res = await bus.receive('gamification', {
      method: 'POST',
      headers: { 'upstash-signature': signQStashJwt(qstash.currentSigningKey, urlOf('gamification'), body) },
      body,
    });
    expect(res.status).toBe(500);
    expect(await countRows(db, 'processed_events', `event_id = '${JSON.parse(body).event_id}'`)).toBe(0);
    // The bus's own subscriber needs no wiring.
    const audit = await bus.receive('audit', {
      method: 'POST',
      headers: { 'upstash-signature': signQStashJwt(qstash.currentSigningKey, urlOf('audit'), body) },
      body,
    });
    expect(audit).toEqual({ status: 200, body: 'processed' });
  });

  it('answers 500 on a non-transient handler failure and commits nothing', async () => {
    const bus = createBus(config, { db, log: silentLogger, timeZone: config.timeZone }, {
      handlers: {
        gamification: async (tx) => {
          await tx`INSERT INTO besitos_source_stats (day, source, earned) VALUES ('2026-01-01', 'half_done', 1)`;
          throw new Error('bug');
        },
      },
    });
    const body = JSON.stringify(earned('x'));
    const res = await bus.receive('gamification', {
      method: 'POST',
      headers: { 'upstash-signature': signQStashJwt(qstash.currentSigningKey, urlOf('gamification'), body) },
      body,
    });
    expect(res.status).toBe(500);
    expect(await countRows(db, 'besitos_source_stats', `source = 'half_done'`)).toBe(0);
    expect(await countRows(db, 'processed_events', `event_id = '${JSON.parse(body).event_id}'`)).toBe(0);
  });
});

describe('a subscriber whose first statements ride with the claim (pipelinesClaim)', () => {
  const source = () => `p_${randomBytes(4).toString('hex')}`;
  /** Writes before it knows whether the event is new, as a pipelining handler may. */
  const writing = (src: string, fail = false) =>
    Object.assign(
      async (tx: Parameters<SubscriberHandler>[0], _e: unknown, ctx: HandlerContext) => {
        await Promise.all([
          tx`INSERT INTO besitos_source_stats (day, source, earned) VALUES ('2026-01-01', ${src}, 1)
             ON CONFLICT (day, source, shard) DO UPDATE SET earned = besitos_source_stats.earned + 1`,
          ...(fail ? [tx`SELECT 1 / 0`] : []),
        ]);
        await ctx.claimed;
      },
      { pipelinesClaim: true },
    );
  const processWith = (handler: SubscriberHandler, body: string) =>
    processEvent({ db, log: silentLogger, timeZone: 'UTC', handlers: { gamification: handler } }, 'gamification', body);

  it('a duplicate (concurrent or later) rolls back what the handler wrote before it knew: one effect', async () => {
    const src = source();
    const body = JSON.stringify(earned(src));
    const outcomes = await Promise.all([body, body, body].map((b) => processWith(writing(src), b)));
    expect(outcomes.sort()).toEqual(['duplicate', 'duplicate', 'processed']);
    expect(await processWith(writing(src), body)).toBe('duplicate');
    expect(await stats(src)).toEqual({ earned: 1, earned_count: 0 });
  });

  it('a statement that fails in the round trip of the claim leaves the event unmarked; the redelivery processes it', async () => {
    const src = source();
    const body = JSON.stringify(earned(src));
    await expect(processWith(writing(src, true), body)).rejects.toThrow(/division by zero/);
    expect(await countRows(db, 'processed_events', `event_id = '${JSON.parse(body).event_id}'`)).toBe(0);
    expect(await stats(src)).toEqual({ earned: 0, earned_count: 0 });
    expect(await processWith(writing(src), body)).toBe('processed');
    expect(await stats(src)).toEqual({ earned: 1, earned_count: 0 });
  });
});

describe('writes sent with the COMMIT (ctx.commitWith, pipelined transaction)', () => {
  const source = () => `c_${randomBytes(4).toString('hex')}`;
  const handing = (src: string, fail = false) =>
    Object.assign(
      async (tx: Parameters<SubscriberHandler>[0], _e: unknown, ctx: HandlerContext) => {
        if (!(await ctx.claimed)) return;
        await tx`INSERT INTO besitos_source_stats (day, source, earned) VALUES ('2026-01-01', ${src}, 1)`;
        // Not awaited by the handler: they travel with the COMMIT.
        ctx.commitWith(
          tx`UPDATE besitos_source_stats SET earned_count = earned_count + 1 WHERE source = ${src}`,
          ...(fail ? [tx`SELECT 1 / 0`, tx`SELECT 2`] : []),
        );
      },
      { pipelinesClaim: true },
    );
  const processWith = (handler: SubscriberHandler, body: string) =>
    processEvent({ db, log: silentLogger, timeZone: 'UTC', handlers: { gamification: handler } }, 'gamification', body);

  it('commit with the event: the handed-over writes and the processed_events row, once', async () => {
    const src = source();
    const body = JSON.stringify(earned(src));
    expect(await processWith(handing(src), body)).toBe('processed');
    expect(await stats(src)).toEqual({ earned: 1, earned_count: 1 });
    expect(await processWith(handing(src), body)).toBe('duplicate');
    expect(await stats(src)).toEqual({ earned: 1, earned_count: 1 });
  });

  it('one failing rolls back all of it, the awaited statements and the claim included; the redelivery processes it once', async () => {
    const src = source();
    const body = JSON.stringify(earned(src));
    await expect(processWith(handing(src, true), body)).rejects.toThrow(/division by zero/);
    expect(await stats(src)).toEqual({ earned: 0, earned_count: 0 });
    expect(await countRows(db, 'processed_events', `event_id = '${JSON.parse(body).event_id}'`)).toBe(0);
    expect(await processWith(handing(src), body)).toBe('processed');
    expect(await stats(src)).toEqual({ earned: 1, earned_count: 1 });
  });

  it('a handler without pipelinesClaim gets them awaited before its commit, with the same outcome', async () => {
    const src = source();
    const plain = (fail: boolean) => {
      const h = handing(src, fail);
      return ((tx, e, ctx) => h(tx, e, ctx)) as SubscriberHandler;
    };
    const body = JSON.stringify(earned(src));
    await expect(processWith(plain(true), body)).rejects.toThrow(/division by zero/);
    expect(await stats(src)).toEqual({ earned: 0, earned_count: 0 });
    expect(await processWith(plain(false), body)).toBe('processed');
    expect(await processWith(plain(false), body)).toBe('duplicate');
    expect(await stats(src)).toEqual({ earned: 1, earned_count: 1 });
  });
});

describe('api/cron/relay', () => {
  it('needs Bearer CRON_SECRET or a QStash signature for its URL', async () => {
    const cron = `${api.url}/api/cron/relay`;
    expect((await fetch(cron)).status).toBe(401);
    expect((await fetch(cron, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const ok = await fetch(cron, { headers: { authorization: 'Bearer cron-secret-for-tests' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ claimed: 0, published: 0 });
    const signed = await fetch(cron, { method: 'POST', headers: { 'upstash-signature': signQStashJwt(qstash.currentSigningKey, cron, '') } });
    expect(signed.status).toBe(200);
    const wrongUrl = await fetch(cron, { method: 'POST', headers: { 'upstash-signature': signQStashJwt(qstash.currentSigningKey, urlOf('audit'), '') } });
    expect(wrongUrl.status).toBe(401);
  });
});

describe('readRawBody', () => {
  it('reads the bytes the way @vercel/node replays them (lazy parsed body getter + replayed stream)', async () => {
    const raw = Buffer.from('{"b": 1,   "a": "ñ"}');
    // What @vercel/node's addHelpers does: read the body, replay it through a PassThrough to
    // 'data'/'end' listeners, and define req.body as a lazy JSON-parsing getter.
    const original = new PassThrough();
    original.end();
    await new Promise((r) => original.resume().on('end', r));
    const replay = new PassThrough();
    const req = original as unknown as Record<string, unknown> & PassThrough;
    const on = replay.on.bind(replay);
    const originalOn = original.on.bind(original);
    (req as any).on = (name: string, cb: (...a: unknown[]) => void) => (name === 'data' || name === 'end' ? on(name, cb) : originalOn(name, cb));
    replay.write(raw);
    replay.end();
    let parsed = 0;
    Object.defineProperty(req, 'body', { get: () => (parsed++, JSON.parse(raw.toString())), enumerable: true, configurable: true });
    const got = await readRawBody(req as never);
    expect(got.equals(raw)).toBe(true);
    expect(parsed).toBe(0); // never touched the parsed body
  });

  it('uses rawBody or a Buffer/string body when an adapter already read the stream', async () => {
    const raw = Buffer.from('{"x":1}');
    expect((await readRawBody({ rawBody: raw } as never)).equals(raw)).toBe(true);
    expect((await readRawBody({ body: '{"x":1}' } as never)).equals(raw)).toBe(true);
  });
});
