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
import { textUpdate } from '../tests/support/updates.js';

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

const base = 7_000_000_000 + Math.floor(Math.random() * 1e8);
const update = (tg: number) => textUpdate(tg, '/balance');

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
          story: { current: () => Promise.reject(new Error('no story in this benchmark')) },
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

    // Latency: one update in flight, the variants interleaved update by update (rotating order), so
    // that load from anything else on the machine hits all of them alike. Median and mean per variant.
    const names = Object.keys(variants) as (keyof typeof variants)[];
    const lat: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const stmts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    // CPU of this process per update (handler + the in-process Bot API stub, and the shim for D).
    const cpu: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (let i = 0; i < SEQ_UPDATES * ROUNDS; i++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length]!;
        const s0 = statements;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const r = await variants[name](update(user()));
        lat[name]!.push(performance.now() - t0);
        const c1 = process.cpuUsage(c0);
        cpu[name]! += (c1.user + c1.system) / 1000;
        stmts[name]! += statements - s0;
        if (r.status !== 200) throw new Error(`${name}: status ${r.status}`);
      }
      if (i % 200 === 0) stub.reset();
    }
    // Throughput: CONCURRENCY in flight for TP_SECONDS per variant, rounds interleaved, best round.
    const tput: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of names) {
        stub.reset();
        let done = 0;
        const until = performance.now() + TP_SECONDS * 1000;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < until) {
              await variants[name](update(user()));
              done++;
            }
          }),
        );
        tput[name] = Math.max(tput[name] ?? 0, done / TP_SECONDS);
      }
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const a = names[0]!;
    console.log(`\n${SEQ_UPDATES * ROUNDS} updates per variant, interleaved (median / mean ms per update), then ${CONCURRENCY} in flight:`);
    for (const name of names) {
      console.log(
        `  ${name.padEnd(30)} median ${med(lat[name]!).toFixed(3)} ms (${(med(lat[name]!) - med(lat[a]!)).toFixed(3)} vs A), mean ${mean(lat[name]!).toFixed(3)} ms | ` +
          `CPU ${(cpu[name]! / lat[name]!.length).toFixed(3)} ms | ${tput[name]!.toFixed(0)} updates/s (×${(tput[name]! / tput[a]!).toFixed(2)} of A) | ${(stmts[name]! / lat[name]!.length).toFixed(2)} SQL statements/update`,
      );
    }
    const [A, B, C, D] = names.map((n) => med(lat[n]!)) as [number, number, number, number];
    console.log(
      `\nadded per update (medians): state load ${(B - A).toFixed(3)} ms (×${(B / A).toFixed(2)}), ` +
        `rate limit ${(C - B).toFixed(3)} ms on Redis (×${(C / B).toFixed(2)}), ${(D - B).toFixed(3)} ms on Upstash REST via the localhost shim (×${(D / B).toFixed(2)})`,
    );
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
