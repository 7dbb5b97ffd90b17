import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Telegram } from 'telegraf';
import { z } from 'zod';
import { InsufficientFunds } from '../../lib/besitos/errors.js';
import { getBalance, grantBesitos, spendBesitos } from '../../lib/besitos/ledger.js';
import { processEvent } from '../../lib/bus/receive.js';
import type { SubscriberHandler } from '../../lib/bus/subscriber.js';
import { moduleSubscribers } from '../../lib/app.js';
import { fixedCatalogue, parseCatalogue } from '../../lib/gamification/content.js';
import { withTelegramRetries } from '../../lib/bot/telegram-retry.js';
import { commandRegistry, registerCommand, runCommand } from '../../lib/commands/index.js';
import { withTransaction } from '../../lib/db/transaction.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { silentLogger } from '../../lib/log.js';
import { es } from '../../lib/bot/messages.js';
import { startTestApp, TEST_TOKEN, textUpdate } from '../support/app.js';
import { countRows, isolatedDatabase, startApiServer, useApp } from '../support/bus.js';
import { uniqueTelegramId } from '../support/db.js';
import { QStashServer } from '../support/qstash-server.js';

const noCatalogue = fixedCatalogue(parseCatalogue({}));

/**
 * Asynchronous commands end to end: the webhook records a pending action and a
 * system.command_requested event in one transaction and answers at once; the bus delivers the event
 * to the `commands` subscriber, which executes the action exactly once and sends the result.
 * In-process bus (no QStash) for the fault cases, then once over HTTP through the QStash stand-in.
 */

// ---- in-process bus, with fault switches on the commands subscriber ----
const localUrl = await isolatedDatabase();
const kv = createMemoryStore();
let crashAfterEffect = 0;
let gate: Promise<void> | null = null;
let releaseGate: (() => void) | null = null;
/** Holds the commands subscriber's deliveries (phase one) until the returned function is called. */
function hold(): () => void {
  gate = new Promise<void>((r) => (releaseGate = r));
  return () => {
    releaseGate?.();
    gate = null;
  };
}
/** The production commands subscriber as lib/app.ts wires it (set once the Bot API stand-in runs). */
let commandsSubscriber: SubscriberHandler;
const faulty: SubscriberHandler = Object.assign(
  async (...args: Parameters<SubscriberHandler>) => {
    if (crashAfterEffect > 0) {
      crashAfterEffect--;
      throw new Error('subscriber crashed after the effect, before processed_events');
    }
    return commandsSubscriber(...args);
  },
  {
    prepare: async (...args: Parameters<NonNullable<SubscriberHandler['prepare']>>) => {
      if (gate) await gate;
      return commandsSubscriber.prepare!(...args);
    },
  },
);
const retryPolicy = { retries: 2, maxRetryAfterSeconds: 1, sleep: () => Promise.resolve() };
/** A Bot API client like the app's (its retry policy), on the stand-in. */
function botClient(): Telegram {
  const c = new Telegram(TEST_TOKEN, { apiRoot: t.telegram.url, webhookReply: false });
  withTelegramRetries(c, retryPolicy);
  return c;
}
const t = await startTestApp(
  { DATABASE_URL: localUrl, RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' },
  { kv, bus: { backoffSeconds: () => 0.05, handlers: { commands: faulty } }, retryPolicy },
);
const { app, telegram } = t;
commandsSubscriber = moduleSubscribers({ telegram: botClient(), kv, catalogue: noCatalogue }).commands;
const db = app.db;

// Executions of each command's `execute`, counted around the registered definitions.
const executions = new Map<string, number>();
function countExecutions(name: string) {
  const def = commandRegistry.get(name)!;
  const original = def.execute;
  def.execute = async (c, p) => {
    executions.set(name, (executions.get(name) ?? 0) + 1);
    return original(c, p);
  };
}
countExecutions('export');
/** A command with a ledger effect and a user error, to check the generic path. */
const probe = registerCommand<{ amount: number }, { balance: number }>({
  name: 'test_spend',
  mode: 'async',
  params: z.object({ amount: z.number().int().positive() }),
  isUserError: (err) => err instanceof InsufficientFunds,
  async execute({ tx, userId, idempotencyKey }, p) {
    const r = await spendBesitos(tx, { userId, amount: p.amount, source: 'shop', idempotencyKey: `cmd:${idempotencyKey}` });
    return { balance: r.entry.balanceAfter };
  },
});
countExecutions('test_spend');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const okDocuments = (chatId: number) => telegram.callsOf('sendDocument').filter((c) => String(c.payload._raw ?? '').includes(`\r\n\r\n${chatId}\r\n`));
const failedDocuments = () => telegram.callsOf('sendDocument!failed').length;

async function person(besitos = 0) {
  const tg = uniqueTelegramId();
  await t.post(textUpdate(tg, '/start'));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  await app.bus.idle();
  telegram.reset(); // forget the welcome
  return { tg, id: row!.id };
}
const exportActions = (userId: number) =>
  db<{ id: number; status: string; completed_at: Date | null }[]>`SELECT id, status, completed_at FROM actions WHERE user_id = ${userId} AND name = 'export' ORDER BY id`;
const requestedEvents = (userId: number) =>
  db<{ id: number; body: string; published_at: Date | null; attempts: number }[]>`
    SELECT id, event::text AS body, published_at, attempts FROM outbox WHERE type = 'system.command_requested' AND user_id = ${userId} ORDER BY id`;

/** Processes a delivery the way api/events/commands and the in-process relay do, with the production handler. */
const deliveryDeps = {
  db,
  log: silentLogger,
  timeZone: app.config.timeZone,
  handlers: moduleSubscribers({ telegram: new Telegram(TEST_TOKEN, { apiRoot: telegram.url, webhookReply: false }), kv, catalogue: noCatalogue }),
};

beforeEach(async () => {
  releaseGate?.();
  gate = null;
  await app.bus.idle();
  crashAfterEffect = 0;
  executions.clear();
  telegram.reset();
});

describe('/exportar as an async command (in-process bus)', () => {
  it('is acknowledged at once, shows as pending in /actividad, then the document arrives once and it shows done', async () => {
    const u = await person();
    const release = hold();
    const started = Date.now();
    const res = await t.post(textUpdate(u.tg, '/exportar'));
    expect(res.status).toBe(200);
    expect(telegram.sentTexts(u.tg)).toEqual([es.exportPreparing()]);
    expect(okDocuments(u.tg)).toHaveLength(0);
    const [pending] = await exportActions(u.id);
    expect(pending!.status).toBe('pending');
    expect(await requestedEvents(u.id)).toHaveLength(1);

    await t.post(textUpdate(u.tg, '/actividad'));
    expect(telegram.sentTexts(u.tg).at(-1)).toMatch(/Exportación de tus datos · ⏳ en curso/);
    const userRow = () => db`SELECT xmin::text AS version, last_active_at FROM users WHERE id = ${u.id}`;
    const before = await userRow();

    release();
    await app.bus.idle();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(5_000);
    expect(okDocuments(u.tg)).toHaveLength(1);
    const json = /\r\n\r\n(\{[\s\S]*?\})\r\n--/.exec(String(okDocuments(u.tg)[0]!.payload._raw))![1]!;
    const data = JSON.parse(json);
    expect(data.profile.telegram_id).toBe(u.tg);
    expect(data.actions.map((a: { name: string }) => a.name)).not.toContain('export');
    expect(executions.get('export')).toBe(1);
    expect((await exportActions(u.id))[0]!.status).toBe('done');
    expect(await userRow()).toEqual(before); // building the document wrote nothing to the user

    await t.post(textUpdate(u.tg, '/actividad'));
    expect(telegram.sentTexts(u.tg).at(-1)).toMatch(/Exportación de tus datos · ✅ hecho/);
    // Nothing left to relay, and another pass sends nothing more.
    await app.bus.sweep();
    expect(okDocuments(u.tg)).toHaveLength(1);
    expect(await countRows(db, 'outbox', 'published_at IS NULL')).toBe(0);
  });

  it('the same event delivered 3× concurrently and then again: executed once, one document', async () => {
    const u = await person();
    const release = hold(); // the relay's own delivery waits behind the copies below
    await t.post(textUpdate(u.tg, '/exportar'));
    const [event] = await requestedEvents(u.id);
    const outcomes = await Promise.all([1, 2, 3].map(() => processEvent(deliveryDeps, 'commands', event!.body)));
    expect(outcomes.sort()).toEqual(['duplicate', 'duplicate', 'processed']);
    expect(await processEvent(deliveryDeps, 'commands', event!.body)).toBe('duplicate');
    release();
    await app.bus.idle();
    expect(executions.get('export')).toBe(1);
    expect(okDocuments(u.tg)).toHaveLength(1);
    expect(await exportActions(u.id)).toHaveLength(1);
    expect(await countRows(db, 'processed_events', `subscriber = 'commands' AND event_id = '${JSON.parse(event!.body).event_id}'`)).toBe(1);
  });

  it('a crash after the effect, before processed_events: the redelivery does not execute again (the action is no longer pending)', async () => {
    const u = await person();
    crashAfterEffect = 1;
    await t.post(textUpdate(u.tg, '/exportar'));
    await app.bus.idle();
    const [action] = await exportActions(u.id);
    expect(action!.status).toBe('done'); // the effect committed
    const [event] = await requestedEvents(u.id);
    expect(event!.published_at).toBeNull(); // …and the delivery failed: the bus will retry
    expect(okDocuments(u.tg)).toHaveLength(0);
    await sleep(80);
    await app.bus.sweep();
    expect(executions.get('export')).toBe(1);
    expect(okDocuments(u.tg)).toHaveLength(1);
    expect((await exportActions(u.id))[0]!.completed_at).toEqual(action!.completed_at);
    expect((await requestedEvents(u.id))[0]!.published_at).not.toBeNull();
  });

  it('Telegram 5xx when sending the document: the bus retries the notification, the command runs once', async () => {
    const u = await person();
    telegram.failNext('sendDocument', 3, 502); // the client's 2 retries, then the delivery fails
    await t.post(textUpdate(u.tg, '/exportar'));
    await app.bus.idle();
    expect(failedDocuments()).toBe(3);
    expect(okDocuments(u.tg)).toHaveLength(0);
    const [first] = await requestedEvents(u.id);
    expect(first!.published_at).toBeNull();
    expect(first!.attempts).toBe(1);
    expect((await exportActions(u.id))[0]!.status).toBe('done');
    await sleep(80);
    await app.bus.sweep();
    expect(okDocuments(u.tg)).toHaveLength(1);
    expect(executions.get('export')).toBe(1);
    expect((await requestedEvents(u.id))[0]!.published_at).not.toBeNull();
  });

  it('the user blocked the bot (403 on the document): acknowledged, not retried, executed once', async () => {
    const u = await person();
    telegram.failNext('sendDocument', 1, 403, { description: 'Forbidden: bot was blocked by the user' });
    await t.post(textUpdate(u.tg, '/exportar'));
    await app.bus.idle();
    expect(failedDocuments()).toBe(1); // a refusal is not retried by the client either
    const [event] = await requestedEvents(u.id);
    expect(event!.published_at).not.toBeNull();
    await app.bus.sweep();
    expect(failedDocuments() + okDocuments(u.tg).length).toBe(1);
    expect((await exportActions(u.id))[0]!.status).toBe('done');
    expect(executions.get('export')).toBe(1);
  });

  it('a replayed /exportar update (Telegram redelivery) records one action and sends one document', async () => {
    const u = await person();
    const update = textUpdate(u.tg, '/exportar');
    await Promise.all([t.post(update), t.post(update), t.post(update)]);
    await app.bus.idle();
    await app.bus.sweep();
    expect(await exportActions(u.id)).toHaveLength(1);
    expect(okDocuments(u.tg)).toHaveLength(1);
    expect(executions.get('export')).toBe(1);
  });
});

describe('async commands: results, user errors, rollback', () => {
  it('a command with an effect runs once and the user gets the generic Spanish result', async () => {
    const u = await person(30);
    const run = await runCommand(db, probe, { userId: u.id, idempotencyKey: `t:${u.id}:ok`, params: { amount: 12 }, now: new Date() });
    expect(run.action.status).toBe('pending');
    expect((await getBalance(db, u.id)).besitos).toBe(30); // acknowledged, not executed yet
    await app.bus.afterCommit();
    await app.bus.idle();
    expect((await getBalance(db, u.id)).besitos).toBe(18);
    expect(executions.get('test_spend')).toBe(1);
    expect(telegram.sentTexts(u.tg)).toEqual([es.commandDone('test_spend')]);
    const [a] = await db`SELECT status, result FROM actions WHERE id = ${run.action.id}`;
    expect(a).toMatchObject({ status: 'done', result: { balance: 18 } });
  });

  it('a user error ends the action failed, moves nothing, and tells the user why in Spanish', async () => {
    const u = await person(5);
    const run = await runCommand(db, probe, { userId: u.id, idempotencyKey: `t:${u.id}:poor`, params: { amount: 50 }, now: new Date() });
    await app.bus.afterCommit();
    await app.bus.idle();
    const [a] = await db`SELECT status, error, completed_at FROM actions WHERE id = ${run.action.id}`;
    expect(a).toMatchObject({ status: 'failed', error: 'InsufficientFunds' });
    expect(a!.completed_at).not.toBeNull();
    expect((await getBalance(db, u.id)).besitos).toBe(5);
    expect(await countRows(db, 'transactions', `user_id = ${u.id} AND source = 'shop'`)).toBe(0);
    expect(telegram.sentTexts(u.tg)).toEqual(['❌ No pude completar test_spend: no te alcanzan los besitos.']);
    // Not retried: the outbox row is delivered, a later sweep changes nothing.
    await app.bus.sweep();
    expect(telegram.sentTexts(u.tg)).toHaveLength(1);
    expect(executions.get('test_spend')).toBe(1);
  });

  it('a rollback of the requesting transaction leaves no action and publishes no event', async () => {
    const u = await person(30);
    const before = await countRows(db, 'outbox', `type = 'system.command_requested'`);
    await expect(
      withTransaction(db, async (tx) => {
        const r = await runCommand(tx, probe, { userId: u.id, idempotencyKey: `t:${u.id}:rb`, params: { amount: 1 }, now: new Date() });
        expect(r.action.status).toBe('pending');
        const [inTx] = await tx`SELECT count(*)::int AS n FROM outbox WHERE type = 'system.command_requested' AND user_id = ${u.id}`;
        expect(inTx!.n).toBe(1); // written in the caller's transaction…
        throw new Error('the caller gives up');
      }),
    ).rejects.toThrow('the caller gives up');
    expect(await countRows(db, 'outbox', `type = 'system.command_requested'`)).toBe(before); // …and gone with it
    expect(await countRows(db, 'actions', `user_id = ${u.id}`)).toBe(0);
    await app.bus.afterCommit();
    await app.bus.idle();
    expect(executions.get('test_spend') ?? 0).toBe(0);
    expect(telegram.sentTexts(u.tg)).toEqual([]);
  });

  it('data erased (/borrar) before execution: the action fails, nothing is sent to the unlinked account', async () => {
    const u = await person();
    const release = hold();
    await t.post(textUpdate(u.tg, '/exportar'));
    const { eraseUser } = await import('../../lib/users/privacy.js');
    await eraseUser(db, kv, { userId: u.id, telegramId: u.tg, createdAt: new Date() });
    release();
    await app.bus.idle();
    const [a] = await exportActions(u.id);
    expect(a!.status).toBe('failed');
    expect(okDocuments(u.tg)).toHaveLength(0);
    expect(telegram.sentTexts(u.tg)).toEqual([es.exportPreparing()]);
    expect(executions.get('export') ?? 0).toBe(0);
  });
});

describe('a pool of one connection (in-process bus)', () => {
  it('/exportar completes: the subscriber never holds a connection while waiting for another', async () => {
    const single = await startTestApp({ DATABASE_URL: await isolatedDatabase(), DATABASE_POOL_MAX: '1' }, { kv: createMemoryStore() });
    const tg = uniqueTelegramId();
    await single.post(textUpdate(tg, '/start'));
    expect((await single.post(textUpdate(tg, '/exportar'))).status).toBe(200);
    await Promise.race([single.app.bus.idle(), sleep(10_000).then(() => Promise.reject(new Error('deadlocked')))]);
    expect(single.telegram.callsOf('sendDocument')).toHaveLength(1);
  });
});

// ---- over HTTP: QStash stand-in → signed delivery → api/events/commands ----
describe('/exportar through QStash (signed delivery to api/events/commands)', () => {
  it('one document, even with every message delivered 3×', async () => {
    const remoteUrl = await isolatedDatabase();
    const qstash = await new QStashServer({ retryDelayMs: (n) => 10 * n, deliveryCopies: 3 }).start();
    afterAll(() => qstash.stop());
    const api = await startApiServer();
    const r = await startTestApp({ DATABASE_URL: remoteUrl, RATE_LIMIT_MESSAGES: '1000', ...qstash.env(api.url) }, { kv: createMemoryStore() });
    useApp(r.app);
    expect(r.app.bus.mode).toBe('qstash');
    const tg = uniqueTelegramId();
    await r.post(textUpdate(tg, '/start'));
    const started = Date.now();
    expect((await r.post(textUpdate(tg, '/exportar'))).status).toBe(200);
    expect(r.telegram.sentTexts(tg).at(-1)).toBe(es.exportPreparing());
    await qstash.idle();
    expect(Date.now() - started).toBeLessThan(5_000);
    const toCommands = qstash.attempts.filter((a) => a.destination === `${api.url}/api/events/commands`);
    expect(toCommands.filter((a) => a.status === 200).length).toBe(3);
    expect(api.hits.get('/api/events/commands')).toEqual([200, 200, 200]);
    expect(r.telegram.callsOf('sendDocument')).toHaveLength(1);
    const [a] = await r.app.db`SELECT a.status FROM actions a JOIN users u ON u.id = a.user_id WHERE u.telegram_id = ${tg} AND a.name = 'export'`;
    expect(a!.status).toBe('done');
    // A forged delivery to the same function is refused.
    const forged = await fetch(`${api.url}/api/events/commands`, { method: 'POST', body: '{}', headers: { 'upstash-signature': 'x.y.z' } });
    expect(forged.status).toBe(401);
  });
});
