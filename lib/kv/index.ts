import type { KeyValueStore } from './types.js';
import { createMemoryStore } from './memory.js';

export * from './types.js';
export { createMemoryStore };

/** Picks the store from configuration: Upstash REST, a plain Redis server, or memory. */
export async function createKeyValueStore(cfg: {
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  REDIS_URL?: string;
}): Promise<KeyValueStore> {
  if (cfg.UPSTASH_REDIS_REST_URL && cfg.UPSTASH_REDIS_REST_TOKEN) {
    const { createUpstashStore } = await import('./upstash.js');
    return createUpstashStore(cfg.UPSTASH_REDIS_REST_URL, cfg.UPSTASH_REDIS_REST_TOKEN);
  }
  if (cfg.REDIS_URL) {
    const { createRedisStore } = await import('./redis.js');
    return createRedisStore(cfg.REDIS_URL);
  }
  return createMemoryStore();
}
