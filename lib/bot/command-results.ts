import { TelegramError, type Telegram } from 'telegraf';
import type { CommandOutcome, CommandOutcomeNotifier } from '../commands/subscriber.js';
import type { KeyValueStore } from '../kv/types.js';
import { es } from './messages.js';
import { isTransientTelegramError } from './telegram-retry.js';

/** What a command-specific notifier gets: the outcome plus the services to send it. */
export interface NotifyContext extends CommandOutcome {
  telegram: Telegram;
  kv?: KeyValueStore;
}

/** Sends the result of a command that ended `done`; without one, a generic "✅ Listo" is sent. */
export type CommandNotifier = (c: NotifyContext) => Promise<void>;

const notifiers = new Map<string, CommandNotifier>();

/** Registers how the result of an async command reaches the user (e.g. /exportar's document). */
export function registerCommandNotifier(name: string, notify: CommandNotifier): void {
  notifiers.set(name, notify);
}

function isBotApiRefusal(err: unknown): boolean {
  return err instanceof TelegramError && (err.code === 400 || err.code === 403);
}

/**
 * How the `commands` subscriber (lib/commands/subscriber.ts) tells users the outcome of an async
 * command: in Spanish, through the Bot API. Wired by lib/app.ts.
 */
export function createCommandResultNotifier(deps: { telegram: Telegram; kv?: KeyValueStore }): CommandOutcomeNotifier {
  return async (c) => {
    const { action, chatId } = c;
    const { telegram } = deps;
    const log = { action: action.id, name: action.name, status: action.status };
    const what = es.commandNames[action.name] ?? action.name;
    try {
      if (action.status === 'failed') {
        await telegram.sendMessage(chatId, es.commandFailed(what, action.error), { parse_mode: 'HTML' });
      } else {
        const custom = notifiers.get(action.name);
        if (custom) await custom({ ...c, telegram, kv: deps.kv });
        else await telegram.sendMessage(chatId, es.commandDone(what), { parse_mode: 'HTML' });
      }
    } catch (err) {
      // 429/5xx/network: the bus retries. A refusal (403 the user blocked the bot, 400 chat not found)
      // will not change on retry: acknowledge it instead of retrying until the dead-letter queue.
      if (!isBotApiRefusal(err) || isTransientTelegramError(err)) throw err;
      c.log.warn({ msg: 'async command: result refused by the Bot API, not retried', ...log, error: String(err) });
      return;
    }
    c.log.info({ msg: 'async command result sent', ...log });
  };
}
