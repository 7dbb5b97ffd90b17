import { createHash } from 'node:crypto';
import type { Redis as IORedis } from 'ioredis';
import { isScriptReply, KeyValueUnavailable, numberOrNull, scoredPairs, type KeyValueStore } from './types.js';

/**
 * A plain Redis server (REDIS_URL), for self-hosting with `npm start`. `commandTimeoutMs` (default
 * 1000) is for tests that measure exact counts on a loaded machine, where a late read of a reply
 * would otherwise count as a store failure.
 */
export async function createRedisStore(url: string, opts: { commandTimeoutMs?: number } = {}): Promise<KeyValueStore> {
  const { Redis } = await import('ioredis');
  const client: IORedis = new Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    // A server that accepts but stops answering must not hang the webhook: every command fails
    // (KeyValueUnavailable) after a second, like an unreachable one (tests/fault/kv-down.test.ts).
    commandTimeout: opts.commandTimeoutMs ?? 1_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  client.on('error', () => {}); // surfaced per command as KeyValueUnavailable
  // Commands fail fast while disconnected (no offline queue): wait for the first connection, but
  // not forever — an unreachable server at boot is handled like one that goes away later.
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      client.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, 2_000);
    client.once('ready', done);
    client.once('error', done);
  });
  return storeOverIoredis(client as unknown as IoredisLike, 'redis', {
    prepareScript: withoutScriptFlags,
    async close() {
      client.disconnect();
    },
  });
}

/**
 * @upstash/ratelimit's scripts start with `#!lua flags=allow-key-locking`, a flag Upstash knows and
 * Redis 7 rejects ("Unexpected flag in script shebang"). Dropping the shebang line (a comment keeps
 * line numbers) runs them as classic EVAL scripts, which is what they are.
 */
export const withoutScriptFlags = (source: string) => source.replace(/^#![^\n]*/, '--');

/** The subset of the ioredis API the adapter uses (ioredis and ioredis-mock both provide it). */
export interface IoredisLike {
  get(key: string): Promise<string | null>;
  set(...args: unknown[]): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  eval(script: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  evalsha(sha1: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  scan(cursor: string | number, ...args: (string | number)[]): Promise<[string, string[]]>;
  expire(key: string, seconds: number): Promise<number>;
  zadd(key: string, ...args: (string | number)[]): Promise<number | string>;
  zincrby(key: string, increment: number, member: string): Promise<string>;
  zrevrange(key: string, start: number, stop: number, withScores: 'WITHSCORES'): Promise<string[]>;
  zrevrank(key: string, member: string): Promise<number | null>;
  zscore(key: string, member: string): Promise<string | null>;
  zrem(key: string, ...members: string[]): Promise<number>;
  zcard(key: string): Promise<number>;
}

/**
 * KeyValueStore over an ioredis-shaped client: EVAL/EVALSHA are translated from the Upstash call
 * shape (script, keys[], args[]) to the Redis one (script, numkeys, ...keys, ...args).
 */
export function storeOverIoredis(
  client: IoredisLike,
  kind: KeyValueStore['kind'],
  extra: { close?: () => Promise<void>; prepareScript?: (source: string) => string } = {},
): KeyValueStore {
  const wrap = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (isScriptReply(err)) throw err;
      throw new KeyValueUnavailable(err);
    }
  };
  const prepare = extra.prepareScript ?? ((s: string) => s);
  // Callers address scripts by the SHA-1 of their source; the server caches what we sent it, which
  // differs when prepareScript changed it: remember which server SHA-1 stands for which source.
  const served = new Map<string, string>();
  const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
  return {
    kind,
    get: (key) => wrap(() => client.get(key)),
    async set(key, value, opts = {}) {
      const args: (string | number)[] = [];
      if (opts.ttlSeconds) args.push('EX', opts.ttlSeconds);
      if (opts.onlyIfAbsent) args.push('NX');
      const res = await wrap(() => client.set(key, value, ...args));
      return res === 'OK';
    },
    del: (...keys) => (keys.length === 0 ? Promise.resolve(0) : wrap(() => client.del(...keys))),
    eval(script, keys, args) {
      const prepared = prepare(script);
      if (prepared !== script) served.set(sha1(script), sha1(prepared));
      return wrap(() => client.eval(prepared, keys.length, ...keys, ...args));
    },
    evalsha: (sha, keys, args) => wrap(() => client.evalsha(served.get(sha) ?? sha, keys.length, ...keys, ...args)),
    async delMatching(pattern) {
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await wrap(() => client.scan(cursor, 'MATCH', pattern, 'COUNT', 500));
        cursor = String(next);
        if (keys.length > 0) n += await wrap(() => client.del(...keys));
      } while (cursor !== '0');
      return n;
    },
    expire: async (key, seconds) => (await wrap(() => client.expire(key, seconds))) === 1,
    async zadd(key, members, opts = {}) {
      if (members.length === 0) return 0;
      const args = members.flatMap((m) => [m.score, m.member]);
      return Number(await wrap(() => (opts.onlyIfAbsent ? client.zadd(key, 'NX', ...args) : client.zadd(key, ...args))));
    },
    zincrby: async (key, increment, member) => Number(await wrap(() => client.zincrby(key, increment, member))),
    zrevrange: async (key, start, stop) => scoredPairs(await wrap(() => client.zrevrange(key, start, stop, 'WITHSCORES'))),
    zrevrank: async (key, member) => numberOrNull(await wrap(() => client.zrevrank(key, member))),
    zscore: async (key, member) => numberOrNull(await wrap(() => client.zscore(key, member))),
    zrem: (key, ...members) => (members.length === 0 ? Promise.resolve(0) : wrap(() => client.zrem(key, ...members))),
    zcard: (key) => wrap(() => client.zcard(key)),
    close: extra.close,
  };
}
