import type { KeyValueStore } from './types.js';

/** In-process store for `npm run dev` and tests; expiry checked on read. */
export function createMemoryStore(now: () => number = Date.now): KeyValueStore {
  const data = new Map<string, { value: string; expiresAt: number | null }>();
  const live = (key: string) => {
    const e = data.get(key);
    if (e && e.expiresAt !== null && e.expiresAt <= now()) {
      data.delete(key);
      return undefined;
    }
    return e;
  };
  return {
    kind: 'memory',
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, opts = {}) {
      if (opts.onlyIfAbsent && live(key)) return false;
      data.set(key, { value, expiresAt: opts.ttlSeconds ? now() + opts.ttlSeconds * 1000 : null });
      return true;
    },
    async del(...keys) {
      let n = 0;
      for (const k of keys) if (live(k) && data.delete(k)) n++;
      return n;
    },
  };
}
