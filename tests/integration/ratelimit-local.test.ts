import { describe, expect, inject, it } from 'vitest';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import type { KeyValueStore } from '../../lib/kv/types.js';
import { silentLogger } from '../../lib/log.js';
import { createRateLimiter } from '../../lib/ratelimit/index.js';
import { prefixedStore } from '../fault/kv-prefix.js';

const redisUrl = inject('redisUrl');

/** Counts the store's script calls (one per limiter round trip). */
function counted(store: KeyValueStore): KeyValueStore & { scripts: number } {
  const c = {
    ...store,
    scripts: 0,
    evalsha: (sha: string, keys: string[], args: (string | number)[]) => (c.scripts++, store.evalsha(sha, keys, args)),
    eval: (script: string, keys: string[], args: (string | number)[]) => (c.scripts++, store.eval(script, keys, args)),
  };
  return c;
}

const backends: [string, () => Promise<KeyValueStore>][] = [
  ['memory', async () => createMemoryStore()],
  ...(redisUrl ? ([['redis', async () => prefixedStore(await createRedisStore(redisUrl), `rl-local:${process.pid}:${Date.now()}:`)]] as [string, () => Promise<KeyValueStore>][]) : []),
];

describe.each(backends)('the local allowance in front of the rate-limit store (%s)', (_name, make) => {
  it('a user far below the limit costs no store call; near it every update asks the store, which counts the local ones too', async () => {
    const store = counted(await make());
    const limiter = createRateLimiter(store, { messages: 20, callbacks: 8, windowSeconds: 60 }, silentLogger);
    // A quarter of the limit is served from memory.
    for (let i = 0; i < 5; i++) expect(await limiter.check('message', '1')).toMatchObject({ allowed: true });
    expect(store.scripts).toBe(0);
    // Then the store decides, and it has counted the 5 served locally: exactly 20 in all.
    const rest = [];
    for (let i = 0; i < 20; i++) rest.push((await limiter.check('message', '1')).allowed);
    expect(rest.filter(Boolean)).toHaveLength(15);
    expect(store.scripts).toBeGreaterThanOrEqual(15);
    // Budgets and users are separate.
    expect(await limiter.check('callback', '1')).toMatchObject({ allowed: true });
    expect(await limiter.check('message', '2')).toMatchObject({ allowed: true });
    await store.close?.();
  });

  it('concurrent bursts on one instance serve exactly the limit', async () => {
    const store = await make();
    const limiter = createRateLimiter(store, { messages: 12, callbacks: 12, windowSeconds: 60 }, silentLogger);
    const results = await Promise.all(Array.from({ length: 50 }, () => limiter.check('message', '7')));
    expect(results.filter((r) => r.allowed)).toHaveLength(12);
    expect(results.filter((r) => r.notify)).toHaveLength(1);
    await store.close?.();
  });
});

/** The store's notice writes reach it but their answer is lost (a command timeout on a loaded machine), `times` times. */
function lossyNoticeWrites(store: KeyValueStore, times: number, opts: { readsFail?: boolean } = {}): KeyValueStore & { lost: number } {
  const c = {
    ...store,
    lost: 0,
    async set(key: string, value: string, o?: { ttlSeconds?: number; onlyIfAbsent?: boolean }) {
      if (!key.includes(':notice:') || c.lost >= times) return store.set(key, value, o);
      c.lost++;
      await store.set(key, value, o);
      throw new Error('Command timed out');
    },
    async get(key: string) {
      if (opts.readsFail && key.includes(':notice:')) throw new Error('Command timed out');
      return store.get(key);
    },
  };
  return c;
}

describe('the throttled user is told once, even when the store loses the answer to the notice write', () => {
  it('a write that reached the store with its answer lost is ours: one notice, not none', async () => {
    const store = lossyNoticeWrites(createMemoryStore(), 1);
    const limiter = createRateLimiter(store, { messages: 5, callbacks: 5, windowSeconds: 60 }, silentLogger);
    const results = await Promise.all(Array.from({ length: 40 }, () => limiter.check('message', 'lossy')));
    expect(results.filter((r) => r.allowed)).toHaveLength(5);
    expect(results.filter((r) => r.notify)).toHaveLength(1);
    expect(store.lost).toBe(1);
    // Later updates of the window stay silent.
    for (let i = 0; i < 5; i++) expect(await limiter.check('message', 'lossy')).toMatchObject({ allowed: false, notify: false });
  });

  it('two instances on one store: one notice between them, whichever loses its answer', async () => {
    const shared = createMemoryStore();
    const a = createRateLimiter(lossyNoticeWrites(shared, 1), { messages: 4, callbacks: 4, windowSeconds: 60, localPercent: 0 }, silentLogger);
    const b = createRateLimiter(shared, { messages: 4, callbacks: 4, windowSeconds: 60, localPercent: 0 }, silentLogger);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).check('message', 'two')));
    expect(results.filter((r) => r.allowed)).toHaveLength(4);
    expect(results.filter((r) => r.notify)).toHaveLength(1);
  });

  it('a store that cannot say whether the write happened: the instance tells the user once rather than never', async () => {
    const store = lossyNoticeWrites(createMemoryStore(), Infinity, { readsFail: true });
    const limiter = createRateLimiter(store, { messages: 3, callbacks: 3, windowSeconds: 60 }, silentLogger);
    const results = await Promise.all(Array.from({ length: 20 }, () => limiter.check('message', 'dark')));
    expect(results.filter((r) => r.notify)).toHaveLength(1);
    expect(store.lost).toBe(3); // three attempts, then this instance decides
  });
});
