import { createHash } from 'node:crypto';
import type { Update } from 'telegraf/types';
import type { PendingQuery, Row } from 'postgres';
import type { Sql } from '../db/client.js';
import { isTransientDbError } from '../db/errors.js';
import type { Bot } from '../bot/index.js';
import { es } from '../bot/messages.js';
import { isTransientTelegramError } from '../bot/telegram-retry.js';
import { KeyValueUnavailable } from '../kv/types.js';
import type { Logger } from '../log.js';
import { secretMatches } from './secret.js';
import { trackWrittenEvents } from '../bus/written.js';
import { markDone } from './completion.js';
import { MalformedUpdate, parseUpdateBody, summarizeUpdate, type UpdateSummary } from './update.js';

export interface WebhookDeps {
  db: Sql;
  bot: Bot;
  secret: string;
  maxAttempts: number;
  log: Logger;
  /**
   * The sender's abuse-prevention pseudonym (lib/users/pseudonym.ts): logs name senders by it, never
   * by Telegram id, and a failed update of a person who erased their data keeps no payload.
   */
  pseudonym?: (telegramId: number) => string;
  /**
   * Sends the inbox claim together with the sender's state load (lib/bot claimWithUserState): the
   * claim's row, or null when the update has no state to load (then the claim is sent alone).
   */
  claimWithState?: (update: Record<string, unknown>, claim: PendingQuery<Row[]>) => Promise<{ attempts: number } | undefined> | null;
  /** Records a handled update as done (lib/webhook/completion.ts: group commit); default one statement per update. */
  complete?: (updateId: number) => Promise<void>;
  /**
   * Webhook reply (lib/bot callbackWebhookReply): the bot's answer to the update's callback query is put
   * in the 200 response instead of being sent as a request. Unset: every answer is a request.
   */
  webhookReply?: { accept(update: object): void; take(update: object): Record<string, unknown> | undefined };
  /** Runs after an update's effects are durable, with the outbox events it wrote (the event relay hooks in here). */
  afterCommit?: (eventIds: string[]) => Promise<void>;
}

export interface WebhookRequest {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface WebhookResponse {
  status: number;
  body: string;
  /** Set when the body is a Bot API method call for Telegram to run (a webhook reply). */
  contentType?: 'application/json';
}

const ok = (body = 'ok'): WebhookResponse => ({ status: 200, body });

/** How long a handler may hold an update before a redelivery may take it over. */
const LEASE_SECONDS = 60;

export function isTransient(err: unknown): boolean {
  // telegraf's handler timeout (p-timeout): the handler may still be running and commit, so let
  // Telegram redeliver after the lease instead of calling the update failed.
  const timedOut = (err as Error | undefined)?.name === 'TimeoutError';
  return timedOut || isTransientDbError(err) || isTransientTelegramError(err) || err instanceof KeyValueUnavailable;
}

/**
 * The Telegram webhook: secret check → inbox → bot → acknowledgement.
 * 2xx once effects are durable; 5xx only for transient failures, at most maxAttempts times per update,
 * after which the update is kept as failed for admins and acknowledged.
 */
export async function handleTelegramWebhook(deps: WebhookDeps, req: WebhookRequest): Promise<WebhookResponse> {
  const started = performance.now();
  if (req.method && req.method !== 'POST') return { status: 405, body: 'method not allowed' };
  const header = req.headers['x-telegram-bot-api-secret-token'];
  if (!secretMatches(deps.secret, Array.isArray(header) ? header[0] : header)) {
    deps.log.warn({ msg: 'webhook secret mismatch' });
    return { status: 401, body: 'unauthorized' };
  }

  let update: Record<string, unknown>;
  try {
    update = parseUpdateBody(req.body);
  } catch (err) {
    if (err instanceof MalformedUpdate) {
      deps.log.warn({ msg: 'malformed update', reason: err.message });
      return { status: 400, body: err.message };
    }
    throw err;
  }
  const summary = summarizeUpdate(update);
  const who = summary.fromId !== null && deps.pseudonym ? deps.pseudonym(summary.fromId) : null;
  const base = { update_id: summary.updateId, kind: summary.kind, who };

  const bodyHash = hashBody(req.body, update);
  let claim: { attempts: number } | undefined;
  const claimStatement = () => deps.db`
    INSERT INTO telegram_updates (update_id, kind, from_id, status, attempts, locked_until, payload, body_hash)
    VALUES (${summary.updateId}, ${summary.kind}, ${summary.fromId}, 'processing', 1,
            now() + ${LEASE_SECONDS} * interval '1 second', ${deps.db.json(update as never)}, ${bodyHash})
    ON CONFLICT (update_id) DO UPDATE
       SET attempts = telegram_updates.attempts + 1, status = 'processing',
           locked_until = now() + ${LEASE_SECONDS} * interval '1 second', updated_at = now()
     WHERE (telegram_updates.status = 'retry'
            OR (telegram_updates.status = 'processing' AND telegram_updates.locked_until < now()))
       -- An update_id is bound to its first body: a redelivery with another body is not handled.
       AND (telegram_updates.body_hash IS NULL OR telegram_updates.body_hash = EXCLUDED.body_hash)
    RETURNING attempts`;
  try {
    // Updates with a sender: the claim and the sender's state load are one statement (the state part
    // writes nothing unless the claim succeeded). If that statement fails for a reason other than an
    // outage (the state part refused something), the claim is made alone and the bot meets the
    // failure where it always did, recorded against a claimed update.
    const together = deps.claimWithState?.(update, claimStatement());
    if (together) {
      claim = await together.catch((err) => {
        if (isTransient(err)) throw err;
        return claimStatement().then(([row]) => row as { attempts: number } | undefined);
      });
    } else {
      [claim] = (await claimStatement()) as unknown as { attempts: number }[];
    }
  } catch (err) {
    // An update Postgres refuses to store (a NUL or lone surrogate in a string, absurd nesting, an id
    // that is not an integer) would fail the same way on every redelivery: acknowledge it, loudly,
    // instead of a 5xx retry loop (tests/fault/fuzz.test.ts). Outages still get a 503.
    const error = `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`.slice(0, 500);
    if (isTransient(err)) {
      deps.log.warn({ msg: 'inbox unavailable, Telegram will retry', ...base, error });
      return { status: 503, body: 'retry later' };
    }
    deps.log.error({ msg: 'update could not be recorded, acknowledged without handling', ...base, error });
    return ok('unrecordable');
  }
  if (!claim) {
    // Another delivery holds a live lease. It may still fail without being able to record it (a
    // killed connection): answering 200 here would lose the update, so ask Telegram to come back;
    // by then it is done (200) or its lease has expired (this delivery takes it over).
    const rows = await deps.db<{ status: string; body_hash: string | null }[]>`
      SELECT status, body_hash FROM telegram_updates WHERE update_id = ${summary.updateId}`.catch(() => null);
    if (rows?.[0]?.body_hash && rows[0].body_hash !== bodyHash) {
      deps.log.warn({ msg: 'update_id redelivered with a different body, ignored', ...base, status: rows[0].status });
      return ok('different body');
    }
    // Unknown (the read failed) counts as in progress: a 503 costs a redelivery, a wrong 200 an update.
    if (!rows || rows[0]?.status === 'processing') {
      deps.log.info({ msg: 'update in progress elsewhere, Telegram will retry', ...base });
      return { status: 503, body: 'in progress' };
    }
    deps.log.info({ msg: 'duplicate update ignored', ...base });
    return ok('duplicate');
  }

  deps.webhookReply?.accept(update);
  try {
    const eventIds = await trackWrittenEvents(update, () => deps.bot.handleUpdate(update as unknown as Update));
    await (deps.complete ? deps.complete(summary.updateId) : markDone(deps.db, [summary.updateId]));
    deps.log.info({ msg: 'update handled', ...base, outcome: 'done', attempts: claim.attempts, ms: Math.round(performance.now() - started) });
    if (deps.afterCommit) {
      await deps.afterCommit(eventIds).catch((err) => deps.log.warn({ msg: 'after-commit hook failed', ...base, error: String(err) }));
    }
    const reply = deps.webhookReply?.take(update);
    return reply ? { status: 200, body: JSON.stringify(reply), contentType: 'application/json' } : ok();
  } catch (err) {
    deps.webhookReply?.take(update);
    return failed(deps, summary, who, claim.attempts, err, started);
  }
}

/** SHA-256 of the body as received (the same bytes on a genuine redelivery); null if it can't be serialised. */
function hashBody(raw: unknown, update: Record<string, unknown>): string | null {
  try {
    const text = typeof raw === 'string' || Buffer.isBuffer(raw) ? raw : JSON.stringify(update);
    return createHash('sha256').update(text).digest('hex');
  } catch {
    return null; // e.g. absurd nesting: such an update is refused by the inbox anyway
  }
}

async function failed(deps: WebhookDeps, summary: UpdateSummary, who: string | null, attempts: number, err: unknown, started: number): Promise<WebhookResponse> {
  const transient = isTransient(err);
  const giveUp = !transient || attempts >= deps.maxAttempts;
  const error = `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`.slice(0, 2000);
  const line = {
    update_id: summary.updateId,
    kind: summary.kind,
    who,
    attempts,
    error,
    ms: Math.round(performance.now() - started),
  };
  try {
    // A killed connection is often why we are here: try on a fresh one a couple of times, because an
    // unrecorded failure holds the update under its lease (redeliveries get 503) until the lease ends.
    for (let attempt = 1; ; attempt++) {
      try {
        // Kept for admins, unless the sender erased their data meanwhile (/borrar unlinked the row
        // while this update was in flight, or the update was sent before the erasure).
        const erased = () => (who ? deps.db`EXISTS (SELECT 1 FROM erasures WHERE person = ${who})` : deps.db`false`);
        await deps.db`
          UPDATE telegram_updates SET status = ${giveUp ? 'failed' : 'retry'}, error = ${error}, locked_until = NULL, updated_at = now(),
                 payload = CASE WHEN ${erased()} THEN NULL ELSE payload END,
                 from_id = CASE WHEN ${erased()} THEN NULL ELSE from_id END
           WHERE update_id = ${summary.updateId}`;
        break;
      } catch (retryErr) {
        if (attempt >= 3 || !isTransientDbError(retryErr)) throw retryErr;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  } catch (dbErr) {
    // The lease expires by itself, so Telegram's redelivery can take the update over.
    deps.log.error({ msg: 'could not record update failure', ...line, dbError: String(dbErr) });
    return { status: 503, body: 'retry later' };
  }
  if (!giveUp) {
    deps.log.warn({ msg: 'update failed, Telegram will retry', ...line, outcome: 'retry' });
    return { status: 503, body: 'retry later' };
  }
  deps.log.error({ msg: 'update failed, kept for admins', ...line, outcome: 'failed', transient });
  if (summary.chatId !== null) {
    await deps.bot.telegram.sendMessage(summary.chatId, es.genericError()).catch(() => {});
  }
  return ok('failed');
}
