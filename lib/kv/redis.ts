import type { Redis as IORedis } from 'ioredis';
import { KeyValueUnavailable, type KeyValueStore } from './types.js';

/** A plain Redis server (REDIS_URL), for self-hosting with `npm start`. */
export async function createRedisStore(url: string): Promise<KeyValueStore> {
  const { Redis } = await import('ioredis');
  const client: IORedis = new Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  client.on('error', () => {}); // surfaced per command as KeyValueUnavailable
  const wrap = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      throw new KeyValueUnavailable(err);
    }
  };
  return {
    kind: 'redis',
    get: (key) => wrap(() => client.get(key)),
    async set(key, value, opts = {}) {
      const args: (string | number)[] = [];
      if (opts.ttlSeconds) args.push('EX', opts.ttlSeconds);
      if (opts.onlyIfAbsent) args.push('NX');
      const res = await wrap(() => (client.set as (...a: unknown[]) => Promise<string | null>)(key, value, ...args));
      return res === 'OK';
    },
    del: (...keys) => wrap(() => client.del(...keys)),
    async close() {
      client.disconnect();
    },
  };
}
