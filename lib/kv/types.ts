/**
 * The key-value port. Holds only what may be lost without harm (daily-claim cache, rate limits,
 * conversation state): money never lives here.
 *
 * Besides get/set/del it exposes the small scripting surface that @upstash/ratelimit calls
 * (`eval`/`evalsha` in the @upstash/redis call shape: script, keys[], args[]) so that one limiter
 * and one compare-and-set runs on every adapter: Upstash REST, a plain Redis server (ioredis) and
 * memory (ioredis-mock, which runs the same Lua through fengari).
 */
export interface KeyValueStore {
  readonly kind: 'memory' | 'redis' | 'upstash';
  get(key: string): Promise<string | null>;
  /** Returns false when onlyIfAbsent is set and the key existed. */
  set(key: string, value: string, opts?: { ttlSeconds?: number; onlyIfAbsent?: boolean }): Promise<boolean>;
  del(...keys: string[]): Promise<number>;
  /** EVAL: runs a Lua script atomically. */
  eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown>;
  /** EVALSHA: rejects with an error whose message contains NOSCRIPT when the script is not cached. */
  evalsha(sha1: string, keys: string[], args: (string | number)[]): Promise<unknown>;
  /** Deletes every key matching a glob pattern (SCAN + DEL). For /borrar, never for hot paths. */
  delMatching(pattern: string): Promise<number>;
  /** EXPIRE: sets a key's time to live; false when the key does not exist. */
  expire(key: string, seconds: number): Promise<boolean>;

  // Sorted sets (rankings). Scores are integers here (besitos): no float rounding to reason about.
  /** ZADD (with NX when onlyIfAbsent): how many members were added. */
  zadd(key: string, members: readonly ScoredMember[], opts?: { onlyIfAbsent?: boolean }): Promise<number>;
  /** ZINCRBY: the member's new score. */
  zincrby(key: string, increment: number, member: string): Promise<number>;
  /** ZREVRANGE … WITHSCORES: members from rank start to stop (inclusive), highest score first. */
  zrevrange(key: string, start: number, stop: number): Promise<ScoredMember[]>;
  /** ZREVRANK: 0 for the highest score; null when absent. */
  zrevrank(key: string, member: string): Promise<number | null>;
  /** ZSCORE: null when absent. */
  zscore(key: string, member: string): Promise<number | null>;
  /** ZREM: how many members were removed. */
  zrem(key: string, ...members: string[]): Promise<number>;
  /** ZCARD: the number of members. */
  zcard(key: string): Promise<number>;
  close?(): Promise<void>;
}

export interface ScoredMember {
  member: string;
  score: number;
}

/** [member, score, member, score …] as Redis answers WITHSCORES (strings) into pairs. */
export function scoredPairs(flat: readonly (string | number)[]): ScoredMember[] {
  const out: ScoredMember[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: String(flat[i]), score: Number(flat[i + 1]) });
  return out;
}

/** A rank or score as the clients answer it (string or number), null when the member is absent. */
export function numberOrNull(r: string | number | null | undefined): number | null {
  return r === null || r === undefined ? null : Number(r);
}

export class KeyValueUnavailable extends Error {
  constructor(cause: unknown) {
    super(`key-value store unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'KeyValueUnavailable';
  }
}

/** Script errors (NOSCRIPT, a Lua error) are answers from a reachable store, not outages. */
export function isScriptReply(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /NOSCRIPT|ERR Error (running|compiling) script|user_script|WRONGTYPE/.test(msg);
}
