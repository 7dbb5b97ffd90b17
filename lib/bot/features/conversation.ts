import { Composer, Markup } from 'telegraf';
import { registerErasureHook } from '../../users/privacy.js';
import type { BotContext } from '../context.js';

/**
 * The door of the conversation: commands are matched case-insensitively (/Regalo, /SALDO), and text
 * that no feature took gets a warm hint with the main buttons in a private chat — at most once every
 * HINT_SECONDS per user, so a chatty user is not answered with the same hint over and over.
 */
export const HINT_SECONDS = 300;
registerErasureHook({ name: 'text-hint', keyPatterns: (ids) => [`hint:${ids.telegramId}`] });

/** First in the chain: "/Daily@DianaBot x" is handled as "/daily@DianaBot x". */
export const commandCaseFeature = new Composer<BotContext>();
commandCaseFeature.on('message', (ctx, next) => {
  const m = ctx.message as { text?: string; entities?: { type: string; offset: number; length: number }[] };
  const e = m.entities?.[0];
  if (m.text && e?.type === 'bot_command' && e.offset === 0) {
    const [cmd] = m.text.slice(0, e.length).split('@');
    if (cmd && cmd !== cmd.toLowerCase()) m.text = cmd.toLowerCase() + m.text.slice(cmd.length);
  }
  return next();
});

/** The main buttons, under the welcome hint (handled by the daily, balance and help features). */
export const mainButtons = (ctx: Pick<BotContext, 't'>) =>
  Markup.inlineKeyboard([
    [Markup.button.callback(ctx.t.mainButtons.daily, 'm:regalo'), Markup.button.callback(ctx.t.mainButtons.balance, 'm:saldo')],
    [Markup.button.callback(ctx.t.mainButtons.help, 'm:ayuda')],
  ]);

/** Last in the chain: what nobody handled. */
export const fallbackFeature = new Composer<BotContext>();
fallbackFeature.on('message', async (ctx, next) => {
  const text = 'text' in ctx.message ? ctx.message.text : undefined;
  if (ctx.chat.type !== 'private' || text === undefined) return next();
  if (text.startsWith('/')) {
    await ctx.reply(ctx.t.unknownCommand());
    return next();
  }
  const first = await ctx.deps.kv
    .set(`hint:${ctx.from.id}`, '1', { onlyIfAbsent: true, ttlSeconds: HINT_SECONDS })
    .catch(() => true); // the store down: better a hint too many than silence
  if (first) await ctx.reply(ctx.t.textHint(ctx.state.user?.firstName ?? null), mainButtons(ctx));
  return next();
});
