import { TelegramError, type Telegram } from 'telegraf';
import { es } from '../../bot/messages.js';
import { isTransientTelegramError } from '../../bot/telegram-retry.js';
import { executePending, toAction, type ActionRecord, type ActionRow } from '../../commands/index.js';
import type { KeyValueStore } from '../../kv/types.js';
import type { Logger } from '../../log.js';
import type { EventOf } from '../events.js';
import type { HandlerContext, SubscriberHandler, Tx } from './types.js';

/**
 * The `commands` subscriber: runs asynchronous commands (runCommand with `mode: 'async'`) and tells
 * the user the outcome, in two phases per delivery of `system.command_requested`:
 *
 * 1. `prepare` (before the processed_events transaction, its own transaction): executePending —
 *    the action row is locked and executed only while `pending`, so its effect commits exactly once
 *    however many times, and however concurrently, the event arrives. A user error ends it `failed`.
 * 2. the handler (inside the processed_events transaction, once per event): reads the action and
 *    sends the result (or the Spanish reason of the failure) through the Bot API.
 *
 * Failure of phase 2 (Telegram 5xx after the client's own retries, a crash) rolls back only the
 * processed_events row: the bus redelivers, phase 1 finds the action done and executes nothing,
 * phase 2 sends again. So the effect is once and the notification is at-least-once: it is lost only
 * when the bus gives up (QStash's retry budget, then its dead-letter queue), and sent twice only if
 * the process dies between Telegram accepting the message and the commit of processed_events.
 * Concurrent duplicate deliveries are serialised on processed_events' primary key: one notification.
 *
 * Phase 1 runs outside phase 2's transaction on purpose: nesting it would hold one connection while
 * waiting for another (a pool of one, or a burst of deliveries, would deadlock).
 */

export interface NotifyContext {
  /** The processed_events transaction (read what the notification needs through it). */
  tx: Tx;
  telegram: Telegram;
  kv?: KeyValueStore;
  log: Logger;
  timeZone: string;
  action: ActionRecord;
  /** The user's Telegram id (private chat) and the chat the command came from (params.chatId, else the user). */
  telegramId: number;
  chatId: number;
}

/** Sends the result of a command that ended `done`; without one, a generic "✅ Listo" is sent. */
export type CommandNotifier = (c: NotifyContext) => Promise<void>;

const notifiers = new Map<string, CommandNotifier>();

/** Registers how the result of an async command reaches the user (e.g. /exportar's document). */
export function registerCommandNotifier(name: string, notify: CommandNotifier): void {
  notifiers.set(name, notify);
}

type Requested = EventOf<'system.command_requested'>;

export class ActionStillPending extends Error {
  constructor(id: number) {
    super(`action ${id} is still pending`);
    this.name = 'ActionStillPending';
  }
}

async function execute(db: Parameters<NonNullable<SubscriberHandler['prepare']>>[0], event: Requested, ctx: HandlerContext) {
  const started = performance.now();
  const r = await executePending(db, event.data.action_id, new Date());
  if (r.executed) {
    ctx.log.info({
      msg: 'async command executed',
      action: r.action.id,
      name: r.action.name,
      status: r.action.status,
      error: r.action.error,
      ms: Math.round(performance.now() - started),
    });
  }
}

interface Row extends ActionRow {
  telegram_id: number | null;
}

async function notify(tx: Tx, event: Requested, ctx: HandlerContext): Promise<void> {
  // FOR SHARE on the user: a concurrent /borrar waits until this notification is sent (or rolled back).
  const [row] = await tx<Row[]>`
    SELECT a.*, u.telegram_id FROM actions a JOIN users u ON u.id = a.user_id
     WHERE a.id = ${event.data.action_id} FOR SHARE OF u`;
  if (!row) {
    ctx.log.warn({ msg: 'async command: action not found, nothing to send', action: event.data.action_id });
    return;
  }
  // Phase 1 left it pending only if it was skipped (a handler replaced without prepare): retry later.
  if (row.status === 'pending') throw new ActionStillPending(Number(row.id));
  const action = toAction(row);
  const log = { action: action.id, name: action.name, status: action.status };
  if (row.telegram_id === null) {
    ctx.log.info({ msg: 'async command: the user erased their data, nothing to send', ...log });
    return;
  }
  if (!ctx.telegram) {
    ctx.log.warn({ msg: 'async command: no Telegram client configured, result not sent', ...log });
    return;
  }
  const telegramId = Number(row.telegram_id);
  const p = action.params as { chatId?: unknown } | null;
  const chatId = typeof p?.chatId === 'number' ? p.chatId : telegramId;
  const what = es.commandNames[action.name] ?? action.name;
  try {
    if (action.status === 'failed') {
      await ctx.telegram.sendMessage(chatId, es.commandFailed(what, action.error), { parse_mode: 'HTML' });
    } else {
      const custom = notifiers.get(action.name);
      if (custom) await custom({ tx, telegram: ctx.telegram, kv: ctx.kv, log: ctx.log, timeZone: ctx.timeZone, action, telegramId, chatId });
      else await ctx.telegram.sendMessage(chatId, es.commandDone(what), { parse_mode: 'HTML' });
    }
  } catch (err) {
    // 429/5xx/network: the bus retries. A refusal (403 the user blocked the bot, 400 chat not found)
    // will not change on retry: acknowledge it instead of retrying until the dead-letter queue.
    if (!isBotApiRefusal(err) || isTransientTelegramError(err)) throw err;
    ctx.log.warn({ msg: 'async command: result refused by the Bot API, not retried', ...log, error: String(err) });
    return;
  }
  ctx.log.info({ msg: 'async command result sent', ...log });
}

function isBotApiRefusal(err: unknown): boolean {
  return err instanceof TelegramError && (err.code === 400 || err.code === 403);
}

const handler = async (tx: Tx, event: Parameters<SubscriberHandler>[1], ctx: HandlerContext) => {
  if (event.type === 'system.command_requested') await notify(tx, event, ctx);
};

export const commandsSubscriber: SubscriberHandler = Object.assign(handler, {
  prepare: async (db: Parameters<NonNullable<SubscriberHandler['prepare']>>[0], event: Parameters<SubscriberHandler>[1], ctx: HandlerContext) => {
    if (event.type === 'system.command_requested') await execute(db, event, ctx);
  },
});
