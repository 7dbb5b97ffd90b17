import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRedisStore } from '../../lib/kv/redis.js';
import { createUpstashStore } from '../../lib/kv/upstash.js';
import type { KeyValueStore } from '../../lib/kv/types.js';
import { createLogger } from '../../lib/log.js';
import { createRateLimiter } from '../../lib/ratelimit/index.js';
import { sessionField, SessionStore } from '../../lib/users/session.js';
import { startUpstashShim } from '../support/upstash-shim.js';
import { useKvBackends } from '../support/kv-backends.js';
import { skipped } from '../support/skips.js';

const { redisUrl, backends, stores, shims } = useKvBackends();

const logLines: Record<string, unknown>[] = [];
const log = createLogger('debug', (s) => logLines.push(JSON.parse(s)));

describe.each(backends)('key-value store: %s', (_name, make) => {
  let kv: KeyValueStore;
  const p = `t:${randomUUID()}:`;
  it('get/set/NX/TTL/del/delMatching', async () => {
    kv = await make();
    stores.push(kv);
    expect(await kv.get(`${p}a`)).toBeNull();
    expect(await kv.set(`${p}a`, 'uno')).toBe(true);
    expect(await kv.set(`${p}a`, 'dos', { onlyIfAbsent: true })).toBe(false);
    expect(await kv.get(`${p}a`)).toBe('uno');
    expect(await kv.set(`${p}b`, 'ñandú 💋', { ttlSeconds: 1 })).toBe(true);
    expect(await kv.get(`${p}b`)).toBe('ñandú 💋');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await kv.get(`${p}b`)).toBeNull();
    for (let i = 0; i < 30; i++) await kv.set(`${p}m:${i}`, String(i));
    expect(await kv.delMatching(`${p}m:*`)).toBe(30);
    expect(await kv.get(`${p}m:3`)).toBeNull();
    expect(await kv.del(`${p}a`)).toBe(1);
  });

  it('eval/evalsha: NOSCRIPT before the first eval, cached after', async () => {
    const script = `return {KEYS[1], ARGV[1] + 1}`;
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha1').update(script).digest('hex');
    const fresh = `${script} -- ${randomUUID()}`;
    const freshSha = createHash('sha1').update(fresh).digest('hex');
    await expect(kv.evalsha(freshSha, [`${p}k`], [1])).rejects.toThrow(/NOSCRIPT/);
    expect(await kv.eval(script, [`${p}k`], [41])).toEqual([`${p}k`, 42]);
    expect(await kv.evalsha(sha, [`${p}k`], [1])).toEqual([`${p}k`, 2]);
  });

  it('sliding-window limiter: the configured number served, one notice per window, budgets and users apart', async () => {
    const limiter = createRateLimiter(kv, { messages: 5, callbacks: 3, windowSeconds: 60 }, log);
    const user = `p${Math.floor(Math.random() * 1e12)}`;
    const other = `${user}x`;
    const decisions = [];
    for (let i = 0; i < 12; i++) decisions.push(await limiter.check('message', user));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(decisions.filter((d) => d.notify)).toHaveLength(1);
    expect(decisions[5]!.notify).toBe(true);
    expect((await limiter.check('callback', user)).allowed).toBe(true);
    expect((await limiter.check('message', other)).allowed).toBe(true);
    await kv.delMatching(`rl:?:${user}:*`);
  });

  it('session compare-and-set: concurrent writes of different fields are all kept', async () => {
    const sessions = new SessionStore(kv);
    const key = `${p}sess`;
    const fields = Array.from({ length: 8 }, (_, i) => sessionField(`f${i}`, z.object({ n: z.number() }), 60));
    await Promise.all(fields.map((f, i) => sessions.set(key, f, { n: i })));
    for (const [i, f] of fields.entries()) expect(await sessions.get(key, f)).toEqual({ n: i });
    // And concurrent increments of one field: every change applied once.
    const counter = sessionField('counter', z.number(), 60);
    await Promise.all(Array.from({ length: 10 }, () => sessions.update(key, counter, (c) => (c ?? 0) + 1)));
    expect(await sessions.get(key, counter)).toBe(10);
  });

  it('session fields expire on their own TTL', async () => {
    let now = Date.now();
    const sessions = new SessionStore(kv, { now: () => now });
    const key = `${p}sess2`;
    const short = sessionField('short', z.string(), 5);
    const long = sessionField('long', z.string(), 600);
    await sessions.set(key, short, 'a');
    await sessions.set(key, long, 'b');
    now += 6_000;
    expect(await sessions.get(key, short)).toBeNull();
    expect(await sessions.get(key, long)).toBe('b');
  });
});

describe.skipIf(skipped('rate limits and sessions on a real Redis (integration/users-kv)', !redisUrl, 'REDIS_URL is not set (needs a real Redis server)'))('rate limit with the store down', () => {
  it('fails open and logs, on Redis and on Upstash', async () => {
    const deadRedis = await createRedisStore('redis://127.0.0.1:1');
    stores.push(deadRedis);
    const shim = await startUpstashShim(redisUrl!);
    shims.push(shim);
    shim.down = true;
    const deadUpstash = createUpstashStore(shim.url, shim.token);
    for (const kv of [deadRedis, deadUpstash]) {
      logLines.length = 0;
      const limiter = createRateLimiter(kv, { messages: 1, callbacks: 1, windowSeconds: 60 }, log);
      for (let i = 0; i < 3; i++) expect(await limiter.check('message', 'p42')).toMatchObject({ allowed: true, failedOpen: true });
      expect(logLines.filter((l) => String(l.msg).startsWith('rate limit store'))).toHaveLength(3);
    }
  });
});

describe.skipIf(!redisUrl)('a store that accepts requests and never answers', () => {
  it('Upstash: commands fail within about a second; the limiter serves the update', async () => {
    const shim = await startUpstashShim(redisUrl!);
    shims.push(shim);
    const kv = createUpstashStore(shim.url, shim.token);
    shim.hang = true;
    const t0 = Date.now();
    await expect(kv.get('x')).rejects.toThrow(/unavailable/);
    expect(Date.now() - t0).toBeLessThan(4_000);
    const limiter = createRateLimiter(kv, { messages: 1, callbacks: 1, windowSeconds: 60, timeoutMs: 300 }, log);
    expect(await limiter.check('message', 'p7')).toMatchObject({ allowed: true, failedOpen: true });
  });
});

