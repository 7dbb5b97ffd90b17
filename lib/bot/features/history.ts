import { Composer, Markup } from 'telegraf';
import { getTransactionHistory } from '../../besitos/ledger.js';
import { displayName, findUsersByIds } from '../../users/lookup.js';
import type { BotContext } from '../context.js';
import { cb } from '../keyboard.js';

const PAGE_SIZE = 10;

async function renderPage(ctx: Pick<BotContext, 'deps' | 't'>, userId: number, beforeId: number | null) {
  const page = await getTransactionHistory(ctx.deps.db, userId, { limit: PAGE_SIZE, beforeId });
  if (page.entries.length === 0) {
    return { text: beforeId ? ctx.t.historyNoMore() : ctx.t.historyEmpty(), keyboard: beforeId ? newerOnly(ctx) : undefined };
  }
  const others = page.entries.map((e) => e.counterpartyId).filter((x): x is number => x !== null);
  const users = await findUsersByIds(ctx.deps.db, others);
  const now = ctx.deps.clock();
  const lines = page.entries.map((e) =>
    ctx.t.historyLine(e, ctx.deps.settings.timeZone, now, e.counterpartyId === null ? null : displayName(users.get(e.counterpartyId))),
  );
  const text = `${ctx.t.historyTitle(Boolean(beforeId))}\n\n${lines.join('\n')}`;
  const buttons = [
    ...(beforeId ? [Markup.button.callback(ctx.t.historyNewer(), 'hist:top')] : []),
    ...(page.nextCursor ? [Markup.button.callback(ctx.t.historyMore(), cb('hist', page.nextCursor))] : []),
  ];
  return { text, keyboard: buttons.length ? Markup.inlineKeyboard([buttons]) : undefined };
}

const newerOnly = (ctx: Pick<BotContext, 't'>) => Markup.inlineKeyboard([Markup.button.callback(ctx.t.historyNewer(), 'hist:top')]);

/**
 * /historial (/history): the last 10 movements. "Más ▸" and "◂ Más recientes" page in place (the
 * message is edited), so a second press of the same button changes nothing instead of posting again.
 */
export const historyFeature = new Composer<BotContext>();

historyFeature.command(['historial', 'history'], async (ctx) => {
  if (!ctx.state.user) return;
  const { text, keyboard } = await renderPage(ctx, ctx.state.user.id, null);
  await ctx.reply(text, { parse_mode: 'HTML', ...keyboard });
});

historyFeature.action(/^hist:(\d{1,15}|top)$/, async (ctx) => {
  if (!ctx.state.user) return ctx.answerCbQuery();
  const cursor = ctx.match[1] === 'top' ? 0 : Number(ctx.match[1]);
  const { text, keyboard } = await renderPage(ctx, ctx.state.user.id, cursor === 0 ? null : cursor);
  await ctx.answerCbQuery();
  // "hist:0" is the /perfil menu's button: the history comes as a new message under the profile.
  if (ctx.match[1] === '0') return void (await ctx.reply(text, { parse_mode: 'HTML', ...keyboard }));
  await ctx.editMessageText(text, { parse_mode: 'HTML', ...keyboard });
});
