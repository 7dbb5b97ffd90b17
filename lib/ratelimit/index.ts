import { randomUUID } from 'node:crypto';
import type { Ratelimit } from '@upstash/ratelimit';
import type { KeyValueStore } from '../kv/types.js';
import type { Logger } from '../log.js';

export type Budget = 'message' | 'callback';

export interface RateLimitSettings {
  messages: number;
  callbacks: number;
  windowSeconds: number;
  /** How long a limiter call may take before the update is served anyway (default 1000 ms). */
  timeoutMs?: number;
  /** Percent of each limit an instance serves per window before asking the store (default 25; 0: always ask). */
  localPercent?: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Over the limit and this is the first throttled update of the window: tell the user once. */
  notify: boolean;
  /** The store could not be asked: served anyway. */
  failedOpen: boolean;
}

export interface RateLimiter {
  /** `who`: the sender's abuse-prevention pseudonym (lib/users/pseudonym.ts), never the Telegram id. */
  check(budget: Budget, who: string): Promise<RateDecision>;
}

const PREFIX: Record<Budget, string> = { message: 'rl:m', callback: 'rl:c' };

/**
 * Per-user sliding-window limits with @upstash/ratelimit, separate budgets for messages and button
 * presses. The limiter talks to our KeyValueStore port, which exposes the two calls the sliding
 * window needs (EVALSHA, EVAL in the @upstash/redis shape) on all three adapters — Upstash REST,
 * ioredis for REDIS_URL, ioredis-mock in memory — so the same library code and the same Lua script
 * run everywhere. Over the limit, the first throttled update of a window gets notify=true (a
 * SET NX marker that lives until the window resets, noticeClaims); store errors and timeouts fail open, logged.
 * Keys name the person by pseudonym, so /borrar leaves them alone: erasing and coming back does not
 * reset a budget, and the keys hold nothing that identifies anyone.
 */
export function createRateLimiter(kv: KeyValueStore, s: RateLimitSettings, log: Logger): RateLimiter {
  // Only evalsha/eval are called by the sliding window; get/set complete the type the library asks for.
  const redis = {
    evalsha: (sha: string, keys: string[], args: unknown[]) => kv.evalsha(sha, keys, args as (string | number)[]),
    eval: (script: string, keys: string[], args: unknown[]) => kv.eval(script, keys, args as (string | number)[]),
    get: (key: string) => kv.get(key),
    set: (key: string, value: string) => kv.set(key, value),
  } as unknown as ConstructorParameters<typeof Ratelimit>[0]['redis'];
  const make = (Limiter: typeof Ratelimit, budget: Budget, tokens: number) =>
    new Limiter({
      redis,
      limiter: Limiter.slidingWindow(tokens, `${s.windowSeconds} s`),
      prefix: PREFIX[budget],
      timeout: s.timeoutMs ?? 1000,
      analytics: false,
      // In-process memory of who is blocked until the window resets: spares the store a call per
      // throttled update. Per instance, so it can only ever save calls, never decide alone.
      ephemeralCache: new Map(),
    });
  // The library is imported with the first store call, not at start-up: a cold start whose first
  // update is served from the local allowance below does not load it.
  let limiters: Promise<Record<Budget, Ratelimit>> | undefined;
  const loadLimiters = () =>
    (limiters ??= import('@upstash/ratelimit').then(({ Ratelimit: Limiter }) => ({
      message: make(Limiter, 'message', s.messages),
      callback: make(Limiter, 'callback', s.callbacks),
    })).catch((err: unknown) => {
      limiters = undefined; // try the import again on the next call (this one fails open)
      throw err;
    }));
  const percent = s.localPercent ?? 25;
  const notices = noticeClaims(kv);
  const local = new LocalAllowance(s.windowSeconds * 1000, { message: localShare(s.messages, percent), callback: localShare(s.callbacks, percent) });

  return {
    async check(budget, who) {
      // Far from the limit: served without asking the store (its count catches up at the next call).
      const entry = local.take(budget, who);
      if (!entry) return { allowed: true, notify: false, failedOpen: false };
      // One store call at a time per user and instance, so the call that carries the locally served
      // updates is counted before the ones queued behind it (a burst stays exact).
      const previous = entry.inFlight;
      let release!: () => void;
      entry.inFlight = new Promise<void>((r) => (release = r));
      await previous;
      const rate = entry.pending + 1;
      entry.pending = 0;
      let res: Awaited<ReturnType<Ratelimit['limit']>>;
      try {
        res = await (await loadLimiters())[budget].limit(who, { rate });
      } catch (err) {
        log.warn({ msg: 'rate limit store unavailable, serving the update', budget, who, error: String(err) });
        return { allowed: true, notify: false, failedOpen: true };
      } finally {
        release();
      }
      if (res.reason === 'timeout') {
        log.warn({ msg: 'rate limit store timed out, serving the update', budget, who });
        return { allowed: true, notify: false, failedOpen: true };
      }
      if (res.success) return { allowed: true, notify: false, failedOpen: false };
      return { allowed: false, notify: await notices.claim(`${PREFIX[budget]}:${who}:notice:${res.reset}`, res.reset), failedOpen: false };
    },
  };
}

const NOTICE_ATTEMPTS = 3;

/**
 * Who tells a throttled user, once per window: one claim per window and instance (the first throttled
 * update of this instance makes it, the others wait for nothing and say nothing), decided across
 * instances by a SET NX in the store whose value is this claim's own token. The write can reach the
 * store while its answer is lost — the client's command timeout fires when a loaded machine is late to
 * read the reply — so a failed write is checked with a GET: our token means it is ours. Swallowing the
 * error instead (as before) lost the notice: every later update found the key and stayed silent.
 * If the store cannot answer at all, this instance tells the user (at most once: the claim is kept).
 */
function noticeClaims(kv: KeyValueStore) {
  /** Keys claimed by this instance, with when their window resets (then they are pruned). */
  const claims = new Map<string, number>();
  async function claimInStore(key: string, reset: number): Promise<boolean> {
    const token = randomUUID();
    for (let attempt = 0; attempt < NOTICE_ATTEMPTS; attempt++) {
      const ttlSeconds = Math.max(1, Math.ceil((reset - Date.now()) / 1000));
      try {
        return await kv.set(key, token, { ttlSeconds, onlyIfAbsent: true });
      } catch {
        const held = await kv.get(key).catch(() => undefined);
        if (held === token) return true;
        if (typeof held === 'string') return false;
      }
    }
    return true;
  }
  return {
    claim(key: string, reset: number): Promise<boolean> {
      const now = Date.now();
      if (claims.has(key)) return Promise.resolve(false);
      if (claims.size >= 10_000) for (const [k, until] of claims) if (until <= now) claims.delete(k);
      claims.set(key, reset);
      return claimInStore(key, reset);
    },
  };
}

/** Updates a user may send per window, per instance, before the store is asked (by default a quarter of the limit). */
const localShare = (limit: number, percent: number) => Math.floor((limit * Math.min(Math.max(percent, 0), 100)) / 100);

interface LocalEntry {
  windowStart: number;
  served: number;
  /** Served locally and not yet counted by the store: sent as the `rate` of the next store call. */
  pending: number;
  /** The store call in progress for this user, if any. */
  inFlight: Promise<void>;
}

/**
 * The local token bucket in front of the store: per instance and window, a user's first `share`
 * updates are served from memory, so a user far below the limit costs no Redis command; from then on
 * every update asks the store, which first records the updates served locally (`rate` = pending + 1).
 * One instance stays exact (tests/e2e/users-state: 60 messages over a limit of 5 serve 5); across N
 * instances at most N × share updates a window go uncounted until that user's next store call.
 */
class LocalAllowance {
  private readonly entries = new Map<string, LocalEntry>();
  constructor(
    private readonly windowMs: number,
    private readonly share: Record<Budget, number>,
  ) {}

  /** Null when served locally; otherwise the entry whose pending updates the store call must record. */
  take(budget: Budget, who: string, now = Date.now()): LocalEntry | null {
    const key = `${budget}:${who}`;
    let entry = this.entries.get(key);
    if (!entry || now - entry.windowStart >= this.windowMs) {
      if (this.entries.size >= 50_000) this.prune(now);
      entry = { windowStart: now, served: 0, pending: 0, inFlight: Promise.resolve() };
      this.entries.set(key, entry);
    }
    entry.served++;
    if (entry.served <= this.share[budget]) {
      entry.pending++;
      return null;
    }
    return entry;
  }

  private prune(now: number): void {
    for (const [key, e] of this.entries) if (now - e.windowStart >= this.windowMs) this.entries.delete(key);
  }
}
