import type { KeyValueStore } from '../../lib/kv/types.js';

/**
 * Namespaces a shared Redis for one test run or benchmark: every key gets `prefix`. Needed because
 * keys such as daily:<user id>:<day> use internal ids, which restart at 1 in every fresh database,
 * so two runs sharing one Redis would otherwise read each other's entries.
 */
export function prefixedStore(store: KeyValueStore, prefix: string): KeyValueStore {
  const k = (key: string) => prefix + key;
  return {
    kind: store.kind,
    get: (key) => store.get(k(key)),
    set: (key, value, opts) => store.set(k(key), value, opts),
    del: (...keys) => store.del(...keys.map(k)),
    eval: (script, keys, args) => store.eval(script, keys.map(k), args),
    evalsha: (sha1, keys, args) => store.evalsha(sha1, keys.map(k), args),
    delMatching: (pattern) => store.delMatching(k(pattern)),
    expire: (key, seconds) => store.expire(k(key), seconds),
    zadd: (key, members, opts) => store.zadd(k(key), members, opts),
    zincrby: (key, inc, member) => store.zincrby(k(key), inc, member),
    zrevrange: (key, start, stop) => store.zrevrange(k(key), start, stop),
    zrevrank: (key, member) => store.zrevrank(k(key), member),
    zscore: (key, member) => store.zscore(k(key), member),
    zrem: (key, ...members) => store.zrem(k(key), ...members),
    zcard: (key) => store.zcard(k(key)),
    close: store.close?.bind(store),
  };
}
