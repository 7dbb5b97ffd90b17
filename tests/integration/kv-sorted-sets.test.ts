import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRedisStore } from '../../lib/kv/redis.js';
import { KeyValueUnavailable, type KeyValueStore } from '../../lib/kv/types.js';
import { useKvBackends } from '../support/kv-backends.js';

/** The sorted-set commands of the key-value port (rankings), one contract on every adapter. */
const { backends, stores } = useKvBackends();

describe.each(backends)('sorted sets: %s', (_name, make) => {
  const p = `t:${randomUUID()}:`;
  let kv: KeyValueStore;

  it('ZADD / ZINCRBY / ZREVRANGE / ZREVRANK / ZSCORE / ZREM / ZCARD', async () => {
    kv = await make();
    stores.push(kv);
    const key = `${p}board`;
    expect(await kv.zrevrange(key, 0, 9)).toEqual([]);
    expect(await kv.zrevrank(key, '1')).toBeNull();
    expect(await kv.zscore(key, '1')).toBeNull();
    expect(await kv.zcard(key)).toBe(0);
    expect(await kv.zadd(key, [])).toBe(0);
    expect(await kv.zadd(key, [{ member: '1', score: 10 }, { member: '2', score: 30 }, { member: '3', score: 20 }])).toBe(3);
    // Updating an existing member adds nothing; NX leaves it alone.
    expect(await kv.zadd(key, [{ member: '1', score: 15 }])).toBe(0);
    expect(await kv.zadd(key, [{ member: '1', score: 999 }, { member: '4', score: 5 }], { onlyIfAbsent: true })).toBe(1);
    expect(await kv.zscore(key, '1')).toBe(15);
    expect(await kv.zincrby(key, 100, '4')).toBe(105);
    expect(await kv.zincrby(key, -100, '4')).toBe(5);
    expect(await kv.zincrby(key, 7, 'nuevo')).toBe(7);
    expect(await kv.zrevrange(key, 0, 2)).toEqual([
      { member: '2', score: 30 },
      { member: '3', score: 20 },
      { member: '1', score: 15 },
    ]);
    expect(await kv.zrevrank(key, '2')).toBe(0);
    expect(await kv.zrevrank(key, '1')).toBe(2);
    expect(await kv.zrevrank(key, 'nuevo')).toBe(3);
    expect(await kv.zcard(key)).toBe(5);
    expect(await kv.zrem(key, '2', 'nadie')).toBe(1);
    expect(await kv.zrem(key)).toBe(0);
    expect(await kv.zrevrank(key, '3')).toBe(0);
    expect(await kv.zcard(key)).toBe(4);
  });

  it('ties come in the order Redis gives them (member descending), large integer scores exact', async () => {
    const key = `${p}ties`;
    await kv.zadd(key, [{ member: '10', score: 5 }, { member: '9', score: 5 }, { member: '11', score: 5 }, { member: 'big', score: 2 ** 40 }]);
    expect((await kv.zrevrange(key, 0, -1)).map((m) => m.member)).toEqual(['big', '9', '11', '10']);
    expect(await kv.zscore(key, 'big')).toBe(2 ** 40);
    expect(await kv.zrevrank(key, '10')).toBe(3);
  });

  it('EXPIRE', async () => {
    const key = `${p}exp`;
    expect(await kv.expire(key, 10)).toBe(false);
    await kv.zadd(key, [{ member: 'a', score: 1 }]);
    expect(await kv.expire(key, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await kv.zcard(key)).toBe(0);
  });

  it('a sorted-set command on a string is refused', async () => {
    await kv.set(`${p}str`, 'x');
    const err = await kv.zadd(`${p}str`, [{ member: 'a', score: 1 }]).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    // A real server's WRONGTYPE is a reply, not an outage (ioredis-mock throws a TypeError of its own).
    if (!_name.startsWith('memory')) {
      expect(String(err)).toMatch(/WRONGTYPE/);
      expect(err).not.toBeInstanceOf(KeyValueUnavailable);
    }
  });
});

describe('sorted sets on a store that is down', () => {
  it('fail as KeyValueUnavailable (the ranking falls back to Postgres)', async () => {
    const kv = await createRedisStore('redis://127.0.0.1:1');
    stores.push(kv);
    await expect(kv.zrevrange('x', 0, 9)).rejects.toBeInstanceOf(KeyValueUnavailable);
    await expect(kv.zadd('x', [{ member: 'a', score: 1 }])).rejects.toBeInstanceOf(KeyValueUnavailable);
  });
});
