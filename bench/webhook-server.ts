/**
 * Child process of benchmark 2: serves one webhook over node:http, the way Vercel's Node runtime
 * calls it (JSON body parsed into req.body, res.status().send()). Either DianaBot's real
 * api/telegram.ts handler over createApp, or the minimal telegraf baseline. Talks to the parent
 * over IPC: sends {ready, port}; answers {cpu} with process.cpuUsage().
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDb } from '../lib/db/client.js';
import { parseConfig } from '../lib/config.js';
import { createApp, setApp } from '../lib/app.js';
import { createRedisStore } from '../lib/kv/redis.js';
import { createLogger } from '../lib/log.js';
import { prefixedStore } from '../tests/fault/kv-prefix.js';
import { createBaselineBot } from './baseline-bot.js';
import { variantOverrides } from './variant-off.js';

// Diagnostics (BENCH_COUNT_IO=1): count socket writes per destination port (5432 Postgres, 6379 Redis, the stub, responses).
const writes = new Map<string, number>();
const statements = new Map<string, number>();
if (process.env.BENCH_COUNT_IO === '1') {
  const net = await import('node:net');
  const original = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: import('node:net').Socket, ...args: unknown[]) {
    const key = this.remotePort === 5432 ? 'postgres' : this.remotePort === 6379 ? 'redis' : this.localPort === serverPort ? 'http response' : 'bot api';
    writes.set(key, (writes.get(key) ?? 0) + 1);
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof original;
}
let serverPort = -1;

const [mode, databaseUrl, apiRoot, redisUrl, prefix, busEnv] = process.argv.slice(2) as [string, string, string, string, string, string];
const TOKEN = '123456:BENCH-token-for-the-local-bot-api-stub';
const SECRET = 'bench-webhook-secret';

type Handler = (req: any, res: any) => Promise<void>;
let handler: Handler;
let close: () => Promise<void>;

if (mode.startsWith('dianabot')) {
  const config = parseConfig({
    // dianabot-qstash: the event bus publishes to the local QStash stand-in, as on Vercel; dianabot: in-process subscribers.
    ...(mode === 'dianabot-qstash' ? (JSON.parse(busEnv) as Record<string, string>) : {}),
    DIANABOT_MODE: 'test',
    DATABASE_URL: databaseUrl,
    TELEGRAM_BOT_TOKEN: TOKEN,
    TELEGRAM_WEBHOOK_SECRET: SECRET,
    TELEGRAM_API_ROOT: apiRoot,
    BOT_USERNAME: 'DianaTestBot',
    REDIS_URL: redisUrl,
    LOG_LEVEL: 'info',
    ...(process.env.BENCH_EXTRA_CONFIG ? (JSON.parse(process.env.BENCH_EXTRA_CONFIG) as Record<string, string>) : {}),
  });
  const kv = prefixedStore(await createRedisStore(redisUrl), prefix);
  // Production logs one JSON line per update; keep that cost, write it nowhere.
  const log = createLogger('info', () => {});
  // Diagnostics (BENCH_COUNT_IO=1): count the SQL statements the app sends, by their first words.
  const db =
    process.env.BENCH_COUNT_IO === '1'
      ? createDb(databaseUrl, {
          max: config.DATABASE_POOL_MAX,
          onQuery: (query) => {
            const key = query.replace(/\s+/g, ' ').trim().slice(0, 70);
            statements.set(key, (statements.get(key) ?? 0) + 1);
          },
        })
      : undefined;
  // The variant side of a same-run comparison (bench/webhook.ts BENCH_VARIANT_OFF): issue 18's changes switched off.
  const app = await createApp(config, {
    kv,
    log,
    ...(db ? { db } : {}),
    ...variantOverrides((process.env.BENCH_VARIANT_OFF ?? '').split(',').filter(Boolean)),
  });
  // Diagnostics only (BENCH_VARIANT=nobus): the same app without the after-commit outbox relay.
  if (process.env.BENCH_VARIANT === 'nobus') (app.bus as { afterCommit: () => Promise<void> }).afterCommit = async () => {};
  setApp(app);
  const { default: vercelHandler } = await import('../api/telegram.js');
  handler = vercelHandler as unknown as Handler;
  close = () => app.close();
} else {
  const db = createDb(databaseUrl, { max: 10 });
  const handle = createBaselineBot({ db, token: TOKEN, apiRoot, secret: SECRET });
  handler = async (req, res) => {
    const r = await handle({ headers: req.headers, body: req.body });
    res.status(r.status).send(r.body);
  };
  close = () => db.end({ timeout: 5 });
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString();
    let body: unknown = raw;
    try {
      body = JSON.parse(raw);
    } catch {
      /* handlers see the raw string */
    }
    const vreq = Object.assign(req, { body });
    const vres = Object.assign(res, {
      status(code: number) {
        res.statusCode = code;
        return vres;
      },
      send(text: string) {
        res.end(text);
        return vres;
      },
    });
    handler(vreq, vres).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  serverPort = (server.address() as AddressInfo).port;
  process.send!({ ready: true, port: serverPort });
});

// BENCH_PROFILE=1: a V8 CPU profile of the measured window only (not the start-up, the loader or the warm-up).
let profiler: import('node:inspector').Session | undefined;
const post = (method: string, params?: object) =>
  new Promise<any>((resolve, reject) => profiler!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));

process.on('message', async (m: { cmd: string; file?: string }) => {
  if (m.cmd === 'profile-start') {
    const inspector = await import('node:inspector');
    profiler = new inspector.Session();
    profiler.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
    await post('Profiler.start');
    process.send!({ profiling: true });
  }
  if (m.cmd === 'profile-stop') {
    const { profile } = await post('Profiler.stop');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync((await import('node:path')).dirname(m.file!), { recursive: true });
    writeFileSync(m.file!, JSON.stringify(profile));
    profiler!.disconnect();
    process.send!({ profiled: m.file });
  }
  if (m.cmd === 'cpu') process.send!({ cpu: process.cpuUsage(), writes: Object.fromEntries(writes), statements: Object.fromEntries(statements) });
  if (m.cmd === 'exit') {
    server.closeAllConnections();
    server.close();
    await close().catch(() => {});
    process.exit(0);
  }
});
