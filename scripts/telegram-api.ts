import { Telegram } from 'telegraf';
import { getConfig } from '../lib/config.js';

/** Telegram client for one-off scripts, from the same configuration the bot uses. */
export function scriptTelegram(): Telegram {
  const config = getConfig();
  if (!config.TELEGRAM_BOT_TOKEN) {
    console.error('TELEGRAM_BOT_TOKEN no está definido (lo da @BotFather).');
    process.exit(1);
  }
  return new Telegram(config.TELEGRAM_BOT_TOKEN, { apiRoot: config.TELEGRAM_API_ROOT });
}
