import { afterAll, inject } from 'vitest';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { createUpstashStore } from '../../lib/kv/upstash.js';
import type { KeyValueStore } from '../../lib/kv/types.js';
import { startUpstashShim, type UpstashShim } from './upstash-shim.js';

/**
 * The key-value adapters a contract test runs on: the in-memory store always; ioredis and the Upstash
 * client (through the REST shim) when the run has a real Redis. Stores pushed to `stores` and shims to
 * `shims` are closed after the file's tests.
 */
export function useKvBackends() {
  const redisUrl = inject('redisUrl');
  const shims: UpstashShim[] = [];
  const stores: KeyValueStore[] = [];
  afterAll(async () => {
    for (const s of stores) await s.close?.();
    for (const s of shims) await s.stop();
  });
  const backends: [string, () => Promise<KeyValueStore>][] = [
    ['memory (ioredis-mock)', async () => createMemoryStore()],
    ...(redisUrl
      ? ([
          ['redis (ioredis)', () => createRedisStore(redisUrl)],
          [
            'upstash (@upstash/redis through the REST shim)',
            async () => {
              const shim = await startUpstashShim(redisUrl);
              shims.push(shim);
              return createUpstashStore(shim.url, shim.token);
            },
          ],
        ] as [string, () => Promise<KeyValueStore>][])
      : []),
  ];
  return { redisUrl, backends, stores, shims };
}
