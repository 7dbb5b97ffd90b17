/// <reference types="vite/client" />
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../lib/app.js';
import { parseConfig } from '../../lib/config.js';
import { createDb } from '../../lib/db/client.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import type { KeyValueStore } from '../../lib/kv/types.js';
import { silentLogger } from '../../lib/log.js';
import { BotApiStub } from '../support/bot-api-stub.js';
import { testDatabaseUrl, uniqueTelegramId, useTestDb } from '../support/db.js';
import { QStashServer } from '../support/qstash-server.js';
import { textUpdate } from '../support/updates.js';
import type { BudgetHarness, RoundTrips, UpdateKind } from './harness.js';

/**
 * The per-update budget (README "Per-update budget"): every kind of update, measured on the production
 * app, must cost at most its written number of SQL statements, key-value commands and Bot API requests,
 * so a module cannot quietly add a round trip to every update. Each module lists its kinds in
 * tests/budget/kinds/<module>.ts (exporting `kinds`).
 */
const kinds = Object.values(import.meta.glob<{ kinds: UpdateKind[] }>('./kinds/*.ts', { eager: true })).flatMap((m) => m.kinds);

const db = useTestDb(4);
const counts: RoundTrips = { sql: 0, kv: 0, botApi: 0 };
let counting = false;
const statements: string[] = [];
const kvCommands: string[] = [];

/** Counts every call on the key-value port: each one is a command (a round trip) on Redis/Upstash. */
function countingStore(store: KeyValueStore): KeyValueStore {
  const count = (name: string) => {
    if (counting) kvCommands.push(name);
  };
  return {
    kind: store.kind,
    get: (key) => (count(`GET ${key}`), store.get(key)),
    set: (key, value, opts) => (count(`SET ${key}`), store.set(key, value, opts)),
    del: (...keys) => (count(`DEL ${keys.join(' ')}`), store.del(...keys)),
    eval: (script, keys, args) => (count(`EVAL ${keys.join(' ')}`), store.eval(script, keys, args)),
    evalsha: (sha1, keys, args) => {
      count(`EVALSHA ${keys.join(' ')}`);
      // A script not yet cached (once per Redis lifetime) is loaded by the EVAL that follows: count one.
      return store.evalsha(sha1, keys, args).catch((err) => {
        if (counting && String(err).includes('NOSCRIPT')) kvCommands.pop();
        throw err;
      });
    },
    delMatching: (pattern) => (count(`SCAN+DEL ${pattern}`), store.delMatching(pattern)),
    expire: (key, seconds) => (count(`EXPIRE ${key}`), store.expire(key, seconds)),
    zadd: (key, members, opts) => (count(`ZADD ${key}`), store.zadd(key, members, opts)),
    zincrby: (key, inc, member) => (count(`ZINCRBY ${key}`), store.zincrby(key, inc, member)),
    zrevrange: (key, start, stop) => (count(`ZREVRANGE ${key}`), store.zrevrange(key, start, stop)),
    zrevrank: (key, member) => (count(`ZREVRANK ${key}`), store.zrevrank(key, member)),
    zscore: (key, member) => (count(`ZSCORE ${key}`), store.zscore(key, member)),
    zrem: (key, ...members) => (count(`ZREM ${key}`), store.zrem(key, ...members)),
    zcard: (key) => (count(`ZCARD ${key}`), store.zcard(key)),
    close: store.close?.bind(store),
  };
}

let app: App;
let telegram: BotApiStub;
let qstash: QStashServer;

beforeAll(async () => {
  telegram = await new BotApiStub().start();
  // Vercel's shape: the after-commit relay publishes this update's events to QStash (here the local stand-in).
  qstash = await new QStashServer({ deliver: false, dedupWindowMs: 0 }).start();
  const config = parseConfig({
    ...qstash.env('http://127.0.0.1:9/budget'),
    DIANABOT_MODE: 'test',
    DATABASE_URL: testDatabaseUrl(),
    TELEGRAM_BOT_TOKEN: '123456:BUDGET-token-for-the-local-bot-api-stub',
    TELEGRAM_WEBHOOK_SECRET: 'budget-secret',
    TELEGRAM_API_ROOT: telegram.url,
    BOT_USERNAME: 'DianaTestBot',
    LOG_LEVEL: 'silent',
  });
  const countedDb = createDb(testDatabaseUrl(), { max: 4, onQuery: (q) => counting && statements.push(q.replace(/\s+/g, ' ').trim().slice(0, 90)) });
  app = await createApp(config, { db: countedDb, kv: countingStore(createMemoryStore()), log: silentLogger });
  afterAll(async () => {
    await app.close();
    await countedDb.end({ timeout: 5 });
    await telegram.stop();
    await qstash.stop();
  });
});

/** Posts as Telegram does, and runs a webhook reply on the stub as Telegram would (recorded, but not a request of ours). */
const post = async (update: unknown) => {
  const res = await app.webhook({ method: 'POST', headers: { 'x-telegram-bot-api-secret-token': 'budget-secret' }, body: JSON.stringify(update) });
  telegram.webhookReply(res);
  return res;
};

function harness(tg: number): BudgetHarness {
  const userId = async () => (await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`)[0]!.id;
  return {
    app,
    telegram,
    db,
    tg,
    memo: {},
    userId,
    post,
    async person(name) {
      const other = uniqueTelegramId();
      const username = `${name}_${other}`.slice(0, 32);
      await post(textUpdate(other, '/start', { firstName: name, username }));
      const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${other}`;
      return { tg: other, id: row!.id, username };
    },
  };
}

/** The budgets as README.md's table states them. */
function readmeBudgets(): Map<string, RoundTrips> {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Per-update budget'));
  const out = new Map<string, RoundTrips>();
  for (const m of section.matchAll(/^\| (.+?) \| (\d+) \| (\d+) \| (\d+) \|/gm)) {
    out.set(m[1]!.replace(/`/g, '').trim(), { sql: Number(m[2]), kv: Number(m[3]), botApi: Number(m[4]) });
  }
  return out;
}

describe('per-update budget: SQL statements, key-value commands and Bot API requests per kind of update', () => {
  it('README.md states the same budgets as tests/budget/kinds', () => {
    const readme = readmeBudgets();
    for (const k of kinds) expect(readme.get(k.name), `README row for "${k.name}"`).toEqual(k.budget);
  });

  it.each(kinds.map((k) => [k.name, k] as const))('%s', async (_name, kind) => {
    const h = harness(uniqueTelegramId());
    await post(textUpdate(h.tg, '/start'));
    await kind.prepare?.(h);
    const update = await kind.update(h);
    telegram.reset();
    statements.length = 0;
    kvCommands.length = 0;
    counting = true;
    let res;
    try {
      res = await post(update);
    } finally {
      counting = false;
    }
    expect(res.status).toBe(200);
    // A callback answer in the webhook response (issue 18) is run by Telegram: it is in `calls` for the
    // check, last, but it is no request of ours.
    const calls = [...telegram.calls];
    await kind.check(h, calls);
    const used: RoundTrips = { sql: statements.length, kv: kvCommands.length, botApi: calls.filter((c) => !c.viaWebhookReply).length };
    const detail = `${kind.name}: ${JSON.stringify(used)} (budget ${JSON.stringify(kind.budget)})\n  SQL:\n    ${statements.join('\n    ')}\n  KV: ${kvCommands.join(', ')}\n  Bot API: ${calls.map((c) => c.method + (c.viaWebhookReply ? ' (webhook reply)' : '')).join(', ')}`;
    if (process.env.BUDGET_VERBOSE === '1') console.log(detail);
    expect(used.sql, detail).toBeLessThanOrEqual(kind.budget.sql);
    expect(used.kv, detail).toBeLessThanOrEqual(kind.budget.kv);
    expect(used.botApi, detail).toBeLessThanOrEqual(kind.budget.botApi);
  });
});
