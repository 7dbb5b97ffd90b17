/**
 * Fault: Redis (the key-value store: daily-claim cache, rate limits, sessions) unreachable.
 * The shared Redis is never stopped: the app's Redis adapter is pointed at a closed port, or at a
 * TCP proxy to the real Redis that this test stops forwarding through.
 * Stated policy (lib/kv/types.ts, lib/ratelimit): money never depends on Redis — /daily grants
 * exactly once from Postgres alone; rate limiting fails open (the update is served, a warning logged).
 */
import net from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createRedisStore } from '../../lib/kv/redis.js';
import { textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { appName, balanceOfTelegram, captureLog, faultApp, useAdminDb, userIdOf } from './support.js';
import { prefixedStore } from './kv-prefix.js';
import { skipped } from '../support/skips.js';

const admin = useAdminDb();

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A TCP proxy to the real Redis that can stop forwarding (a Redis that hangs) and resume. */
class PausableProxy {
  private server = net.createServer((client) => this.accept(client));
  private sockets = new Set<net.Socket>();
  private held: (() => void)[] = [];
  paused = false;
  port = 0;

  constructor(private target: URL) {}

  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  private accept(client: net.Socket) {
    const upstream = net.connect(Number(this.target.port || 6379), this.target.hostname);
    this.sockets.add(client).add(upstream);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (this.paused) this.held.push(() => to.write(chunk));
        else to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  }

  resume() {
    this.paused = false;
    for (const f of this.held.splice(0)) f();
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const dailyRows = async (tg: number) => {
  const uid = await userIdOf(admin, tg);
  return (await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${uid} AND source = 'daily'`)[0]!.n;
};

describe('fault: Redis refusing connections (adapter pointed at a closed port)', async () => {
  const capture = captureLog();
  const kv = await createRedisStore(`redis://127.0.0.1:${await closedPort()}`);
  const t = await faultApp(appName('kvdown'), { RATE_LIMIT_MESSAGES: '3' }, { kv, log: capture.log });
  afterAll(() => kv.close?.());

  it('/daily grants exactly once: the same update 3×, concurrently (each redelivered until 2xx, as Telegram does), then a second /daily — one ledger row, replies sent', async () => {
    const tg = uniqueTelegramId();
    const update = textUpdate(tg, '/daily');
    const deliver = async () => {
      for (let i = 0; i < 20; i++) {
        const res = await t.post(update);
        if (res.status === 200) return res.status;
        expect(res.status).toBe(503); // "in progress elsewhere": come back later
        await new Promise((r) => setTimeout(r, 50));
      }
      return -1;
    };
    expect(await Promise.all([deliver(), deliver(), deliver()])).toEqual([200, 200, 200]);
    expect((await t.post(textUpdate(tg, '/daily'))).status).toBe(200);
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
    expect(await dailyRows(tg)).toBe(1);
    const texts = t.telegram.sentTexts(tg);
    expect(texts.filter((x) => /Recibiste/.test(x))).toHaveLength(1);
    expect(texts.filter((x) => /Ya reclamaste/.test(x))).toHaveLength(1);
  });

  it('rate limiting fails open and says so in the log: 6 messages over a limit of 3 are all served', async () => {
    const tg = uniqueTelegramId();
    for (let i = 0; i < 6; i++) expect((await t.post(textUpdate(tg, '/balance'))).status).toBe(200);
    expect(t.telegram.sentTexts(tg).filter((x) => /Tienes/.test(x))).toHaveLength(6);
    expect(capture.lines.some((l) => /rate limit store (unavailable|timed out)/.test(String(l.msg)))).toBe(true);
  });
});

describe('fault: Redis stops answering mid-flight (a proxy that holds every byte)', async () => {
  const redisUrl = inject('redisUrl');
  const proxy = redisUrl ? await new PausableProxy(new URL(redisUrl)).start() : null;
  const kv = proxy ? prefixedStore(await createRedisStore(`redis://127.0.0.1:${proxy.port}`), `fault:${process.pid}:${Date.now()}:`) : null;
  const t = kv ? await faultApp(appName('kvhang'), {}, { kv }) : null;
  afterAll(async () => {
    await kv?.close?.();
    await proxy?.stop();
  });

  it.skipIf(skipped('fault: Redis that never answers (kv-down)', !redisUrl, 'REDIS_URL is not set (needs a real Redis server)'))('/daily still answers within 5 s and grants once while Redis hangs, and again once Redis is back', async () => {
    const tg = uniqueTelegramId();
    await t!.post(textUpdate(tg, '/start'));
    proxy!.paused = true;
    const started = Date.now();
    const first = textUpdate(tg, '/daily');
    const res = await Promise.race([
      t!.post(first),
      new Promise<{ status: number }>((r) => setTimeout(() => r({ status: -1 }), 5_000).unref()),
    ]);
    const ms = Date.now() - started;
    proxy!.resume();
    expect(res.status, `answered after ${ms} ms (-1: no answer within 5 s)`).toBe(200);
    // Redis back: a redelivery and a new /daily change nothing.
    expect((await t!.post(first)).status).toBe(200);
    expect((await t!.post(textUpdate(tg, '/daily'))).status).toBe(200);
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
    expect(await dailyRows(tg)).toBe(1);
  });
});
