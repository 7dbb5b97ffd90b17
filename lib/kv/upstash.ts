import { Redis } from '@upstash/redis';
import { isScriptReply, KeyValueUnavailable, numberOrNull, scoredPairs, type KeyValueStore } from './types.js';

/** Upstash Redis over HTTP (Vercel deployments, or self-hosting with UPSTASH_REDIS_REST_URL). `timeoutMs`: as createRedisStore's. */
export function createUpstashStore(url: string, token: string, opts: { timeoutMs?: number } = {}): KeyValueStore {
  const client = new Redis({
    url,
    token,
    automaticDeserialization: false,
    retry: { retries: 1, backoff: () => 50 },
    // Like the ioredis adapter's commandTimeout: a store that stops answering fails (and the bot
    // fails open) instead of hanging the webhook. A fresh signal per request.
    signal: () => AbortSignal.timeout(opts.timeoutMs ?? 1_000),
  });
  return upstashStore(client);
}

/** The adapter over an existing client (also what @upstash/ratelimit would get directly). */
export function upstashStore(client: Redis): KeyValueStore {
  const wrap = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (isScriptReply(err)) throw err;
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
    del: (...keys) => (keys.length === 0 ? Promise.resolve(0) : wrap(() => client.del(...keys))),
    eval: (script, keys, args) => wrap(() => client.eval(script, keys, args)),
    evalsha: (sha1, keys, args) => wrap(() => client.evalsha(sha1, keys, args)),
    async delMatching(pattern) {
      let cursor: string | number = '0';
      let n = 0;
      do {
        const [next, keys]: [string | number, string[]] = await wrap(() => client.scan(cursor, { match: pattern, count: 500 }));
        cursor = String(next);
        if (keys.length > 0) n += await wrap(() => client.del(...keys));
      } while (cursor !== '0');
      return n;
    },
    expire: async (key, seconds) => (await wrap(() => client.expire(key, seconds))) === 1,
    async zadd(key, members, opts = {}) {
      if (members.length === 0) return 0;
      const [first, ...rest] = members.map((m) => ({ score: m.score, member: m.member }));
      const n = await wrap(() => (opts.onlyIfAbsent ? client.zadd(key, { nx: true }, first!, ...rest) : client.zadd(key, first!, ...rest)));
      return Number(n ?? 0);
    },
    zincrby: async (key, increment, member) => Number(await wrap(() => client.zincrby(key, increment, member))),
    zrevrange: async (key, start, stop) =>
      scoredPairs(await wrap(() => client.zrange<(string | number)[]>(key, start, stop, { rev: true, withScores: true }))),
    zrevrank: async (key, member) => numberOrNull(await wrap(() => client.zrevrank(key, member))),
    zscore: async (key, member) => numberOrNull(await wrap(() => client.zscore(key, member))),
    zrem: (key, ...members) => (members.length === 0 ? Promise.resolve(0) : wrap(() => client.zrem(key, ...members))),
    zcard: (key) => wrap(() => client.zcard(key)),
  };
}
