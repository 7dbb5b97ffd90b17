/**
 * The key-value port. Holds only what may be lost without harm (daily-claim cache, rate limits,
 * conversation state): money never lives here.
 */
export interface KeyValueStore {
  readonly kind: 'memory' | 'redis' | 'upstash';
  get(key: string): Promise<string | null>;
  /** Returns false when onlyIfAbsent is set and the key existed. */
  set(key: string, value: string, opts?: { ttlSeconds?: number; onlyIfAbsent?: boolean }): Promise<boolean>;
  del(...keys: string[]): Promise<number>;
  close?(): Promise<void>;
}

export class KeyValueUnavailable extends Error {
  constructor(cause: unknown) {
    super(`key-value store unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'KeyValueUnavailable';
  }
}
