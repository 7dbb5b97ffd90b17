/**
 * lib/scheduler on Vercel's path: each job's trigger goes through the outbox to QStash (the stand-in,
 * real JWT signatures) with Upstash-Not-Before, and api/events/scheduler runs it on time; api/cron/jobs
 * sweeps what triggers miss. The QStash stand-in and the app share one injected clock.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../../lib/app.js';
import { parseConfig } from '../../lib/config.js';
import { createDb } from '../../lib/db/client.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { silentLogger } from '../../lib/log.js';
import { createScheduler, jobHandlers, schedule } from '../../lib/scheduler/index.js';
import { triggerEvent } from '../../lib/scheduler/triggers.js';
import { eventually, isolatedDatabase, startApiServer, useApp } from '../support/bus.js';
import { QStashServer, signQStashJwt } from '../support/qstash-server.js';

const T0 = new Date('2026-05-01T09:00:00Z');
let now = T0;
const clock = () => new Date(now);
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;
const DAY = 86_400_000;

jobHandlers.register({
  kind: 'test.trigger_effect',
  payload: z.object({}),
  async run(tx, _p, ctx) {
    await tx`INSERT INTO trigger_effects (key, late_ms) VALUES (${ctx.key}, ${ctx.lateMs})`;
  },
});

const dbUrl = await isolatedDatabase();
const db = createDb(dbUrl, { max: 10 });
afterAll(() => db.end({ timeout: 5 }));
await db`CREATE TABLE trigger_effects (key text NOT NULL, late_ms bigint NOT NULL)`;
const qstash = await new QStashServer({ clock, retryDelayMs: () => 20 }).start();
afterAll(() => qstash.stop());
const api = await startApiServer();
const config = parseConfig({
  DIANABOT_MODE: 'test',
  DATABASE_URL: dbUrl,
  TELEGRAM_BOT_TOKEN: '123456:TEST-token-for-the-local-bot-api-stub',
  TELEGRAM_WEBHOOK_SECRET: 'test-webhook-secret',
  LOG_LEVEL: 'silent',
  CRON_SECRET: 'cron-secret-jobs',
  ...qstash.env(api.url),
});
const app = await createApp(config, { db, kv: createMemoryStore(), log: silentLogger, clock });
afterAll(() => app.close());
useApp(app);

const effects = async (key?: string) =>
  (await db<{ n: number }[]>`SELECT count(*)::int AS n FROM trigger_effects WHERE ${key ? db`key = ${key}` : db`true`}`)[0]!.n;
const add = (key: string, dueAt: Date) => db.begin((tx) => schedule(tx, { kind: 'test.trigger_effect', key, dueAt, payload: {} }));
const triggersTo = (key: string) =>
  qstash.published.filter((m) => m.destination === `${api.url}/api/events/scheduler` && JSON.parse(m.body).data.job_key === key);

beforeEach(async () => {
  now = T0;
  await qstash.idle();
});

describe('QStash triggers', () => {
  it('scheduling writes the trigger with the job; the relay publishes it with Upstash-Not-Before; it runs the job on time', async () => {
    expect(await add('on-time', at(5 * MIN))).toBe(true);
    const [row] = await db`SELECT type, event FROM outbox WHERE type = 'system.job_due' AND event->'data'->>'job_key' = 'on-time'`;
    expect(row!.event.data).toEqual({ job_key: 'on-time', run_at: at(5 * MIN).toISOString(), hop: 0 });
    await app.bus.sweep();
    const [msg] = triggersTo('on-time');
    expect(msg!.headers['upstash-not-before']).toBe(String(at(5 * MIN).getTime() / 1000));
    expect(qstash.published.filter((m) => m.destination.endsWith('/api/events/audit') && m.body.includes('on-time'))).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(await effects('on-time')).toBe(0); // held by QStash until its time
    now = at(5 * MIN + 1000);
    expect(await eventually(async () => (await effects('on-time')) === 1)).toBe(true);
    await qstash.idle();
    const [late] = await db`SELECT late_ms FROM trigger_effects WHERE key = 'on-time'`;
    expect(Number(late!.late_ms)).toBe(1000);
  });

  it('a redelivered or forged trigger does nothing more; an early one runs nothing', async () => {
    await add('guarded', at(MIN));
    const body = JSON.stringify(triggerEvent('guarded', at(MIN)));
    const url = `${api.url}/api/events/scheduler`;
    const post = (signature: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'upstash-signature': signature }, body });
    expect((await post(signQStashJwt('forged-key', url, body))).status).toBe(401);
    expect((await post(signQStashJwt(qstash.currentSigningKey, `${api.url}/api/events/audit`, body))).status).toBe(401);
    const early = await post(signQStashJwt(qstash.currentSigningKey, url, body));
    expect(early.status).toBe(200);
    expect(await effects('guarded')).toBe(0);
    now = at(MIN);
    expect((await post(signQStashJwt(qstash.currentSigningKey, url, body))).status).toBe(200);
    expect((await post(signQStashJwt(qstash.nextSigningKey, url, body))).status).toBe(200);
    expect(await effects('guarded')).toBe(1);
  });

  it('a job further away than QStash’s longest delay is re-armed when its clamped trigger arrives early', async () => {
    await add('far', at(10 * DAY));
    await app.bus.sweep();
    expect(triggersTo('far')[0]!.headers['upstash-not-before']).toBe(String(at(6 * DAY).getTime() / 1000));
    now = at(6 * DAY);
    const hop1 = await eventually(async () => (await db`SELECT 1 FROM outbox WHERE event->'data'->>'job_key' = 'far' AND event->'data'->>'hop' = '1'`).length === 1);
    expect(hop1).toBe(true);
    expect(await effects('far')).toBe(0);
    await app.bus.sweep();
    expect(triggersTo('far')[1]!.headers['upstash-not-before']).toBe(String(at(10 * DAY).getTime() / 1000));
    now = at(10 * DAY);
    expect(await eventually(async () => (await effects('far')) === 1)).toBe(true);
  });

  it('two sweeps and the QStash triggers racing over 1,000 due jobs run each exactly once', async () => {
    await db.begin(async (tx) => {
      for (let i = 0; i < 1000; i++) await schedule(tx, { kind: 'test.trigger_effect', key: `race:${i}`, dueAt: T0, payload: {} });
    });
    const a = createScheduler({ db, log: silentLogger, clock, timeZone: 'UTC', batchSize: 25 });
    const b = createScheduler({ db, log: silentLogger, clock, timeZone: 'UTC', batchSize: 25 });
    await Promise.all([app.bus.sweep(), a.sweep({ timeBudgetMs: 60_000 }), b.sweep({ timeBudgetMs: 60_000 })]);
    await qstash.idle();
    const [c] = await db<{ n: number; keys: number }[]>`
      SELECT count(*)::int AS n, count(DISTINCT key)::int AS keys FROM trigger_effects WHERE key LIKE 'race:%'`;
    expect(c).toEqual({ n: 1000, keys: 1000 });
    expect(await db`SELECT 1 FROM scheduled_jobs WHERE key LIKE 'race:%' AND state <> 'done'`).toHaveLength(0);
    expect(qstash.dlq).toHaveLength(0);
  });
});

describe('api/cron/jobs', () => {
  const cron = (auth?: string) => fetch(`${api.url}/api/cron/jobs`, { headers: auth ? { authorization: auth } : {} });

  it('refuses a request without the cron secret, and runs what is due with it (what a lost trigger left)', async () => {
    await add('swept', at(MIN));
    await db`DELETE FROM outbox WHERE event->'data'->>'job_key' = 'swept'`; // as if the trigger never came
    now = at(2 * MIN);
    expect((await cron()).status).toBe(401);
    expect((await cron('Bearer wrong')).status).toBe(401);
    expect(await effects('swept')).toBe(0);
    const res = await cron('Bearer cron-secret-jobs');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ claimed: 1, done: 1 });
    expect(await effects('swept')).toBe(1);
  });
});

describe('without QStash (npm start / npm run dev)', () => {
  it('triggers are delivered in-process: a due job runs right after the commit, a later one waits without re-arming', async () => {
    const local = await createApp(
      parseConfig({
        DIANABOT_MODE: 'test',
        DATABASE_URL: dbUrl,
        TELEGRAM_BOT_TOKEN: '123456:TEST-token-for-the-local-bot-api-stub',
        TELEGRAM_WEBHOOK_SECRET: 'test-webhook-secret',
        LOG_LEVEL: 'silent',
      }),
      { db, kv: createMemoryStore(), log: silentLogger, clock },
    );
    try {
      expect(local.bus.mode).toBe('local');
      await add('local-now', now);
      await add('local-later', at(30 * MIN));
      await local.bus.afterCommit();
      await local.bus.idle();
      expect(await effects('local-now')).toBe(1);
      expect(await effects('local-later')).toBe(0);
      await local.bus.sweep();
      expect(await db`SELECT 1 FROM outbox WHERE event->'data'->>'job_key' = 'local-later'`).toHaveLength(1); // no hop 1
      expect(await db`SELECT 1 FROM outbox WHERE event->'data'->>'job_key' = 'local-later' AND published_at IS NULL`).toHaveLength(0);
      now = at(30 * MIN);
      expect(await local.scheduler.sweep()).toMatchObject({ done: 1 });
      expect(await effects('local-later')).toBe(1);
    } finally {
      await local.close();
    }
  });
});
