import { Telegraf } from 'telegraf';
import type { UserFromGetMe } from 'telegraf/types';
import { registerUser } from '../users/registration.js';
import type { BotContext, BotDeps } from './context.js';
import { userMessageFor } from './errors.js';
import { features } from './features/index.js';
import { es } from './messages.js';
import { withTelegramRetries, type RetryPolicy } from './telegram-retry.js';

export interface CreateBotOptions {
  token: string;
  apiRoot: string;
  /** Known bot identity: saves the getMe round trip on a cold start. */
  botInfo?: UserFromGetMe;
  retryPolicy?: RetryPolicy;
}

export type Bot = Telegraf<BotContext>;

/** The bot: one Composer per feature over shared middleware (registration, errors, retries). */
export function createBot(deps: BotDeps, opts: CreateBotOptions): Bot {
  const bot = new Telegraf<BotContext>(opts.token, {
    telegram: { apiRoot: opts.apiRoot, webhookReply: false },
    handlerTimeout: 50_000,
  });
  if (opts.botInfo) bot.botInfo = opts.botInfo;
  bot.context.deps = deps;
  bot.context.t = es;
  // Errors go back to the webhook handler, which decides between retry and acknowledgement.
  bot.catch((err) => {
    throw err;
  });

  bot.use(async (ctx, next) => {
    withTelegramRetries(ctx.telegram, opts.retryPolicy);
    ctx.state.requestKey = `update:${ctx.update.update_id}`;
    const from = ctx.from;
    if (from && !from.is_bot) ctx.state.user = await registerUser(deps.db, from);
    try {
      await next();
    } catch (err) {
      const message = userMessageFor(ctx, err);
      if (message === null) throw err;
      if (ctx.callbackQuery) await ctx.answerCbQuery(message, { show_alert: true });
      else if (ctx.chat) await ctx.reply(message);
    }
  });

  for (const feature of features) bot.use(feature);

  // A command nobody handled, in a private chat: say so instead of staying silent.
  bot.on('message', async (ctx, next) => {
    const text = 'text' in ctx.message ? ctx.message.text : undefined;
    if (ctx.chat.type === 'private' && text?.startsWith('/')) await ctx.reply(ctx.t.unknownCommand());
    return next();
  });
  // A button of an old or removed feature: stop the spinner.
  bot.on('callback_query', (ctx) => ctx.answerCbQuery());
  return bot;
}
