/**
 * What the user-state layer adds to each webhook update (issue 13), measured in one run:
 *   A  foundation: registration upsert only, no rate limit
 *   B  + state load (profile, balance, streak, provider sections in one statement)
 *   C  + rate limit on Redis (REDIS_URL, ioredis)
 *   D  + rate limit on Upstash (the production @upstash/redis client through the REST shim)
 * Same process, same database, same Bot API stub, the real webhook handler (inbox, bot, /balance
 * reply). Variants run interleaved over several rounds; best round per variant.
 * Reports mean latency with one update in flight (the added cost per update), throughput with 16 in
 * flight, and Postgres statements per update (postgres.js debug hook).
 *   npx tsx bench/user-state.ts        (BENCH_QUICK=1 for a short run)
 */
import postgres from 'postgres';
import { createBot, type CreateBotOptions } from '../lib/bot/index.js';
import { createDb } from '../lib/db/client.js';
import { migrate } from '../lib/db/migrate.js';
import { createRedisStore } from '../lib/kv/redis.js';
import { createUpstashStore } from '../lib/kv/upstash.js';
import type { KeyValueStore } from '../lib/kv/types.js';
import { silentLogger } from '../lib/log.js';
import { systemClock } from '../lib/time/zone.js';
import { handleTelegramWebhook } from '../lib/webhook/handle.js';
import { BotApiStub } from '../tests/support/bot-api-stub.js';
import { startUpstashShim } from '../tests/support/upstash-shim.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUICK = process.env.BENCH_QUICK === '1';
const USERS = 500;
const SEQ_UPDATES = QUICK ? 400 : 1500;
const TP_SECONDS = QUICK ? 2 : 4;
const CONCURRENCY = 16;
const ROUNDS = QUICK ? 2 : 3;
const SECRET = 'bench-secret';
const TOKEN = '123456:BENCH-token-for-the-local-bot-api-stub';

let seq = Math.floor(Math.random() * 1e9);
const base = 7_000_000_000 + Math.floor(Math.random() * 1e8);
const update = (tg: number) => ({
  update_id: ++seq,
  message: {
    message_id: seq,
    from: { id: tg, is_bot: false, first_name: 'Ana', language_code: 'es' },
    chat: { id: tg, first_name: 'Ana', type: 'private' },
    date: Math.floor(Date.now() / 1000),
    text: '/balance',
    entities: [{ offset: 0, length: 8, type: 'bot_command' }],
  },
});

async function main() {
  const dbName = `bench_users_${Date.now()}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const stub = await new BotApiStub().start();
  const shim = await startUpstashShim(REDIS_URL);
  const closers: (() => Promise<unknown>)[] = [];
  let statements = 0;
  try {
    const m = createDb(url.toString(), { max: 1 });
    await migrate(m);
    await m.end();
    // The app's client plus a debug hook counting statements sent to Postgres.
    const db = postgres(url.toString(), {
      max: 10,
      onnotice: () => {},
      debug: () => void statements++,
      types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
      transform: { undefined: null },
    }) as unknown as ReturnType<typeof createDb>;
    closers.push(() => db.end({ timeout: 5 }));
    const redis = await createRedisStore(REDIS_URL);
    closers.push(async () => redis.close?.());
    const upstash = createUpstashStore(shim.url, shim.token);

    const make = (kv: KeyValueStore, o: Pick<CreateBotOptions, 'stateLoad' | 'rateLimit'>) => {
      const bot = createBot(
        {
          db,
          kv,
          clock: systemClock,
          log: silentLogger,
          settings: {
            timeZone: 'America/Mexico_City',
            dailyAmount: 10,
            adminTelegramIds: [],
            rateLimit: { messages: 1_000_000, callbacks: 1_000_000, windowSeconds: 60 },
          },
        },
        {
          token: TOKEN,
          apiRoot: stub.url,
          botInfo: { id: 123456, is_bot: true, first_name: 'DianaBot', username: 'DianaTestBot' } as never,
          ...o,
        },
      );
      return (u: unknown) =>
        handleTelegramWebhook(
          { db, bot, secret: SECRET, maxAttempts: 5, log: silentLogger },
          { method: 'POST', headers: { 'x-telegram-bot-api-secret-token': SECRET }, body: JSON.stringify(u) },
        );
    };
    const variants = {
      'A foundation (register only)': make(redis, { stateLoad: 'register-only', rateLimit: false }),
      'B + state load': make(redis, { stateLoad: 'full', rateLimit: false }),
      'C + rate limit (Redis)': make(redis, { stateLoad: 'full', rateLimit: true }),
      'D + rate limit (Upstash REST)': make(upstash, { stateLoad: 'full', rateLimit: true }),
    };
    const user = () => base + Math.floor(Math.random() * USERS);
    // Warm-up: register everyone, JIT every path, load the scripts.
    const warm = variants['B + state load'];
    for (let i = 0; i < USERS; i++) await warm(update(base + i));
    for (const v of Object.values(variants)) for (let i = 0; i < 200; i++) await v(update(user()));

    const best: Record<string, { meanMs: number; perSecond: number; statements: number }> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, post] of Object.entries(variants)) {
        stub.reset();
        const s0 = statements;
        const t0 = performance.now();
        for (let i = 0; i < SEQ_UPDATES; i++) {
          const r = await post(update(user()));
          if (r.status !== 200) throw new Error(`${name}: status ${r.status}`);
        }
        const meanMs = (performance.now() - t0) / SEQ_UPDATES;
        const perUpdate = (statements - s0) / SEQ_UPDATES;
        let done = 0;
        const until = performance.now() + TP_SECONDS * 1000;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < until) {
              await post(update(user()));
              done++;
            }
          }),
        );
        const perSecond = done / TP_SECONDS;
        const prev = best[name];
        best[name] = {
          meanMs: Math.min(meanMs, prev?.meanMs ?? Infinity),
          perSecond: Math.max(perSecond, prev?.perSecond ?? 0),
          statements: perUpdate,
        };
        console.log(`round ${round + 1} ${name.padEnd(30)} mean ${meanMs.toFixed(3)} ms/update, ${perSecond.toFixed(0)} updates/s, ${perUpdate.toFixed(2)} SQL statements/update`);
      }
    }
    const a = best['A foundation (register only)']!;
    console.log('\nbest of rounds:');
    for (const [name, r] of Object.entries(best)) {
      console.log(
        `  ${name.padEnd(30)} ${r.meanMs.toFixed(3)} ms/update (${(r.meanMs - a.meanMs >= 0 ? '+' : '')}${(r.meanMs - a.meanMs).toFixed(3)} ms vs A, ×${(r.meanMs / a.meanMs).toFixed(2)}) | ` +
          `${r.perSecond.toFixed(0)} updates/s (×${(r.perSecond / a.perSecond).toFixed(2)} of A) | ${r.statements.toFixed(2)} statements/update`,
      );
    }
    const b = best['B + state load']!;
    const c = best['C + rate limit (Redis)']!;
    const d = best['D + rate limit (Upstash REST)']!;
    console.log(`\nstate load adds ${(b.meanMs - a.meanMs).toFixed(3)} ms/update; rate limit adds ${(c.meanMs - b.meanMs).toFixed(3)} ms on Redis, ${(d.meanMs - b.meanMs).toFixed(3)} ms on Upstash REST (shim on localhost)`);
  } finally {
    for (const c of closers) await c().catch(() => {});
    await shim.stop();
    await stub.stop();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
