import type { Telegram } from 'telegraf';
import { TelegramError } from 'telegraf';

export interface RetryPolicy {
  /** Retries after the first try, for 429 and 5xx. */
  retries: number;
  /** A 429 asking for a longer wait than this is not waited for (the update is retried instead). */
  maxRetryAfterSeconds: number;
  sleep?: (ms: number) => Promise<void>;
}

export const defaultRetryPolicy: RetryPolicy = { retries: 2, maxRetryAfterSeconds: 5 };

/** True for Bot API failures worth retrying: rate limits, server errors and network errors. */
export function isTransientTelegramError(err: unknown): boolean {
  if (err instanceof TelegramError) return err.code === 429 || err.code >= 500;
  const code = (err as { code?: string; type?: string })?.code ?? (err as { type?: string })?.type;
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'system', 'request-timeout'].includes(String(code));
}

/** Wraps a context's Telegram client so that 429 (after retry_after) and 5xx are retried within limits. */
export function withTelegramRetries(telegram: Telegram, policy: RetryPolicy = defaultRetryPolicy): void {
  const call = telegram.callApi.bind(telegram);
  const sleep = policy.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  telegram.callApi = (async (method: string, payload: unknown, opts?: unknown) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (call as (...a: unknown[]) => Promise<unknown>)(method, payload, opts);
      } catch (err) {
        if (attempt >= policy.retries || !isTransientTelegramError(err)) throw err;
        const retryAfter = err instanceof TelegramError ? err.parameters?.retry_after : undefined;
        if (retryAfter !== undefined && retryAfter > policy.maxRetryAfterSeconds) throw err;
        await sleep(retryAfter !== undefined ? retryAfter * 1000 : 100 * 2 ** attempt);
      }
    }
  }) as typeof telegram.callApi;
}
