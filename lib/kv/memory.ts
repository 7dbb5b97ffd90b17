import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { storeOverIoredis, withoutScriptFlags, type IoredisLike } from './redis.js';
import type { KeyValueStore } from './types.js';

/**
 * In-process store for `npm run dev` and tests: ioredis-mock, an in-memory Redis that runs Lua
 * (through fengari), behind the same adapter as a real Redis server. So the rate limiter's and the
 * sessions' scripts run unchanged in memory. ioredis-mock is a devDependency: `npm run dev` and the
 * tests install it; production always has REDIS_URL or Upstash (see createKeyValueStore).
 */
export function createMemoryStore(): KeyValueStore {
  const require = createRequire(import.meta.url);
  let RedisMock: new (opts: Record<string, unknown>) => IoredisLike;
  try {
    RedisMock = require('ioredis-mock');
  } catch (err) {
    throw new Error(
      'The in-memory key-value store needs the ioredis-mock dev dependency; in production set REDIS_URL or UPSTASH_REDIS_REST_URL/_TOKEN',
      { cause: err },
    );
  }
  // ioredis-mock shares data between instances with the same host and port: one host per store.
  const client = new RedisMock({ host: `memory-${randomUUID()}`, port: 6379 });
  const store = storeOverIoredis(client, 'memory', {
    // fengari is plain Lua 5.3: it rejects the shebang line too.
    prepareScript: withoutScriptFlags,
  });
  return {
    ...store,
    async close() {
      (client as unknown as { disconnect(): void }).disconnect();
    },
  };
}
