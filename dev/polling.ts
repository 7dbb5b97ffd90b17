import type { Telegram } from 'telegraf';
import type { Logger } from '../lib/log.js';
import type { WebhookRequest, WebhookResponse } from '../lib/webhook/handle.js';
import { ALLOWED_UPDATES } from '../lib/webhook/allowed-updates.js';

export interface PollingOptions {
  telegram: Telegram;
  /** The app's webhook handler: polled updates take the same path as pushed ones (inbox, retries). */
  webhook: (req: WebhookRequest) => Promise<WebhookResponse>;
  secret: string;
  log: Logger;
  /** Long-poll timeout in seconds (Telegram holds the request this long when there is nothing). */
  timeoutSeconds?: number;
  /** Pause after a failed getUpdates or a 5xx from the handler. */
  backoffMs?: number;
}

export interface Poller {
  stop(): Promise<void>;
  /** Resolves after the loop handled at least `n` updates (for tests). */
  readonly handled: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Long polling for `npm run dev` with a real TELEGRAM_BOT_TOKEN. Each update goes through
 * handleTelegramWebhook exactly like a webhook delivery, and is confirmed (offset) only once the
 * handler answered 2xx — a 5xx is retried here, as Telegram would retry a webhook, until the
 * handler gives up on it (WEBHOOK_MAX_ATTEMPTS) and acknowledges it.
 */
export function startPolling(opts: PollingOptions): Poller {
  const abort = new AbortController();
  const timeout = opts.timeoutSeconds ?? 25;
  const backoff = opts.backoffMs ?? 1000;
  let offset = 0;
  let handled = 0;

  const loop = (async () => {
    while (!abort.signal.aborted) {
      let updates: { update_id: number }[];
      try {
        updates = (await opts.telegram.callApi(
          'getUpdates',
          { offset, timeout, allowed_updates: [...ALLOWED_UPDATES] } as never,
          { signal: abort.signal } as never,
        )) as unknown as { update_id: number }[];
      } catch (err) {
        if (abort.signal.aborted) break;
        opts.log.warn({ msg: 'getUpdates failed', error: String((err as Error).message ?? err) });
        await sleep(backoff, abort.signal);
        continue;
      }
      for (const update of updates) {
        for (let attempt = 1; !abort.signal.aborted; attempt++) {
          let res: WebhookResponse;
          try {
            res = await opts.webhook({
              method: 'POST',
              headers: { 'x-telegram-bot-api-secret-token': opts.secret },
              body: JSON.stringify(update),
            });
          } catch (err) {
            res = { status: 500, body: String(err) };
          }
          if (res.status < 500) {
            // A webhook reply: run the method call the handler answered with, as Telegram does for a webhook.
            if (res.contentType && res.status < 300) await runWebhookReply(opts.telegram, res.body, opts.log);
            break;
          }
          await sleep(Math.min(backoff * 2 ** (attempt - 1), 30_000), abort.signal);
        }
        if (abort.signal.aborted) break;
        offset = update.update_id + 1;
        handled++;
      }
    }
  })();

  return {
    get handled() {
      return handled;
    },
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

async function runWebhookReply(telegram: PollingOptions['telegram'], body: string, log: PollingOptions['log']): Promise<void> {
  try {
    const { method, ...payload } = JSON.parse(body) as { method: string } & Record<string, unknown>;
    await telegram.callApi(method as never, payload as never);
  } catch (err) {
    // Telegram gives a webhook reply's failure to nobody either.
    log.debug({ msg: 'webhook reply failed', error: String((err as Error).message ?? err) });
  }
}
