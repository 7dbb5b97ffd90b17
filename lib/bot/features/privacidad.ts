import { Composer, Input, Markup } from 'telegraf';
import { z } from 'zod';
import { eraseUser, exportUserData } from '../../users/privacy.js';
import { sessionField, sessionKey } from '../../users/session.js';
import type { BotContext } from '../context.js';

/** The pending /borrar confirmation: five minutes. */
const eraseFlow = sessionField('erase', z.object({ nonce: z.number().int() }), 300);

/** /privacidad, /exportar and /borrar. */
export const privacidadFeature = new Composer<BotContext>();

privacidadFeature.command(['privacidad', 'privacy'], (ctx) => ctx.reply(ctx.t.privacy(), { parse_mode: 'HTML' }));
privacidadFeature.action('pv:info', async (ctx) => {
  await ctx.answerCbQuery();
  await ctx.reply(ctx.t.privacy(), { parse_mode: 'HTML' });
});

privacidadFeature.command(['exportar', 'export'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const data = await exportUserData(ctx.deps.db, ctx.sessions, me, [ctx.chat.id, me.telegramId]);
  const json = Buffer.from(JSON.stringify(data, null, 2), 'utf8');
  await ctx.replyWithDocument(Input.fromBuffer(json, ctx.t.exportFileName()), { caption: ctx.t.exportCaption() });
});

privacidadFeature.command(['borrar', 'delete'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const nonce = ctx.update.update_id;
  await ctx.sessions.set(sessionKey(me.telegramId, ctx.chat.id), eraseFlow, { nonce });
  await ctx.reply(ctx.t.eraseConfirm(), {
    parse_mode: 'HTML',
    ...Markup.inlineKeyboard([
      Markup.button.callback(ctx.t.eraseYes(), `pv:del:y:${nonce}`),
      Markup.button.callback(ctx.t.eraseNo(), `pv:del:n:${nonce}`),
    ]),
  });
});

privacidadFeature.action(/^pv:del:([yn]):(\d{1,15})$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return ctx.answerCbQuery();
  const nonce = Number(ctx.match[2]);
  const skey = sessionKey(me.telegramId, ctx.chat.id);
  const pending = await ctx.sessions.get(skey, eraseFlow);
  await ctx.answerCbQuery();
  if (!pending || pending.nonce !== nonce) return void (await ctx.reply(ctx.t.eraseExpired()));
  if (ctx.match[1] === 'n') {
    await ctx.sessions.clear(skey, eraseFlow);
    return void (await ctx.editMessageText(ctx.t.eraseCancelled()));
  }
  await eraseUser(ctx.deps.db, ctx.deps.kv, { userId: me.id, telegramId: me.telegramId }, ctx.deps.log);
  await ctx.editMessageText(ctx.t.eraseDone());
});
