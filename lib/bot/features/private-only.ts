import { Composer, Markup } from 'telegraf';
import type { BotContext } from '../context.js';

/** Commands that show a user's money, history, activity or profile: answered only in the private chat. */
const PERSONAL_COMMANDS = ['saldo', 'balance', 'historial', 'history', 'actividad', 'activity', 'perfil', 'profile'];
/** Buttons that show the presser's own data (ledger pages, activity, balance, the profile menu). */
const PERSONAL_BUTTONS = /^(hist:|act:|m:saldo$|pf:|pv:info$)/;

/**
 * Personal answers go private. In a group, /saldo, /historial, /actividad and /perfil say so and link
 * the private chat instead of posting the sender's data for everyone; buttons that would show the
 * presser's own data answer with a notice (never a group message: "Tus últimos movimientos" under
 * someone else's profile would read as theirs). And a keyboard the bot sent in answer to someone's
 * message (lib/bot/keyboard.ts openKeyboard) acts only for that someone: others get a notice.
 */
export const privateOnlyFeature = new Composer<BotContext>();

privateOnlyFeature.command(PERSONAL_COMMANDS, async (ctx, next) => {
  if (ctx.chat.type === 'private') return next();
  const bot = ctx.botInfo?.username;
  await ctx.reply(ctx.t.personalInPrivate(), {
    parse_mode: 'HTML',
    reply_parameters: { message_id: ctx.message.message_id, allow_sending_without_reply: true },
    ...(bot ? Markup.inlineKeyboard([Markup.button.url(ctx.t.openPrivateChat(), `https://t.me/${bot}`)]) : {}),
  });
});

privateOnlyFeature.on('callback_query', async (ctx, next) => {
  const message = ctx.callbackQuery.message;
  if (!message || message.chat.type === 'private') return next();
  const owner = 'reply_to_message' in message ? message.reply_to_message?.from : undefined;
  if (owner && !owner.is_bot && owner.id !== ctx.from.id) {
    return void (await ctx.answerCbQuery(ctx.t.keyboardEnded('notYours', undefined, ctx.deps.settings.timeZone, ctx.deps.clock()), { show_alert: true }));
  }
  const data = 'data' in ctx.callbackQuery ? ctx.callbackQuery.data : '';
  if (PERSONAL_BUTTONS.test(data)) return void (await ctx.answerCbQuery(ctx.t.personalButtonInPrivate(), { show_alert: true }));
  return next();
});
