import type { Sql } from '../db/client.js';
import type { EventOf } from '../bus/events.js';
import type { HandlerContext, SubscriberHandler, Tx } from '../bus/subscriber.js';
import { executePending, toAction, type ActionRecord, type ActionRow } from './index.js';

/**
 * The `commands` subscriber: runs asynchronous commands (runCommand with `mode: 'async'`) and has the
 * user told the outcome, in two phases per delivery of `system.command_requested`:
 *
 * 1. `prepare` (before the processed_events transaction, its own transaction): executePending —
 *    the action row is locked and executed only while `pending`, so its effect commits exactly once
 *    however many times, and however concurrently, the event arrives. A user error ends it `failed`.
 * 2. the handler (inside the processed_events transaction, once per event): reads the action and
 *    hands it to `notify` (the bot's result sender, wired by lib/app.ts), which tells the user.
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

export interface CommandOutcome {
  /** The processed_events transaction (read what the notification needs through it). */
  tx: Tx;
  log: HandlerContext['log'];
  timeZone: string;
  /** Ended `done` or `failed` (with its Spanish reason in `error`). */
  action: ActionRecord;
  /** The user's Telegram id (private chat) and the chat the command came from (params.chatId, else the user). */
  telegramId: number;
  chatId: number;
}

/** Tells the user how a command ended; throws to have the delivery retried. */
export type CommandOutcomeNotifier = (c: CommandOutcome) => Promise<void>;

type Requested = EventOf<'system.command_requested'>;

export class ActionStillPending extends Error {
  constructor(id: number) {
    super(`action ${id} is still pending`);
    this.name = 'ActionStillPending';
  }
}

async function execute(db: Sql, event: Requested, ctx: HandlerContext) {
  const started = performance.now();
  const r = await executePending(db, event.data.action_id, ctx.clock());
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

async function report(tx: Tx, event: Requested, ctx: HandlerContext, notify: CommandOutcomeNotifier | undefined): Promise<void> {
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
  if (!notify) {
    ctx.log.warn({ msg: 'async command: no notifier configured, result not sent', ...log });
    return;
  }
  const telegramId = Number(row.telegram_id);
  const p = action.params as { chatId?: unknown } | null;
  const chatId = typeof p?.chatId === 'number' ? p.chatId : telegramId;
  await notify({ tx, log: ctx.log, timeZone: ctx.timeZone, action, telegramId, chatId });
}

/** The subscriber, with the function that tells users the outcome (lib/bot/command-results.ts in the app). */
export function createCommandsSubscriber(notify?: CommandOutcomeNotifier): SubscriberHandler {
  const handler = async (tx: Tx, event: Parameters<SubscriberHandler>[1], ctx: HandlerContext) => {
    if (event.type === 'system.command_requested') await report(tx, event, ctx, notify);
  };
  return Object.assign(handler, {
    prepare: async (db: Sql, event: Parameters<SubscriberHandler>[1], ctx: HandlerContext) => {
      if (event.type === 'system.command_requested') await execute(db, event, ctx);
    },
  });
}
