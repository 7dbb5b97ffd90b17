import { Redis } from '@upstash/redis';
import { KeyValueUnavailable, type KeyValueStore } from './types.js';

/** Upstash Redis over HTTP (Vercel deployments). */
export function createUpstashStore(url: string, token: string): KeyValueStore {
  const client = new Redis({ url, token, automaticDeserialization: false, retry: { retries: 1, backoff: () => 50 } });
  const wrap = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      throw new KeyValueUnavailable(err);
    }
  };
  return {
    kind: 'upstash',
    get: (key) => wrap(async () => ((await client.get<string>(key)) ?? null)),
    async set(key, value, opts = {}) {
      const res = await wrap(() =>
        opts.ttlSeconds
          ? opts.onlyIfAbsent
            ? client.set(key, value, { ex: opts.ttlSeconds, nx: true })
            : client.set(key, value, { ex: opts.ttlSeconds })
          : opts.onlyIfAbsent
            ? client.set(key, value, { nx: true })
            : client.set(key, value),
      );
      return res === 'OK';
    },
    del: (...keys) => wrap(() => client.del(...keys)),
  };
}
