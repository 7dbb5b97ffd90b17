import { Composer, Markup } from 'telegraf';
import { getTransactionHistory } from '../../besitos/ledger.js';
import type { BotContext } from '../context.js';

const PAGE_SIZE = 10;

async function renderPage(ctx: Pick<BotContext, 'deps' | 't'>, userId: number, beforeId: number | null) {
  const page = await getTransactionHistory(ctx.deps.db, userId, { limit: PAGE_SIZE, beforeId });
  if (page.entries.length === 0) {
    return { text: beforeId ? ctx.t.historyNoMore() : ctx.t.historyEmpty(), keyboard: undefined };
  }
  const lines = page.entries.map((e) => ctx.t.historyLine(e, ctx.deps.settings.timeZone));
  const text = `${ctx.t.historyTitle(Boolean(beforeId))}\n\n${lines.join('\n')}`;
  const keyboard = page.nextCursor
    ? Markup.inlineKeyboard([Markup.button.callback(ctx.t.historyMore(), `hist:${page.nextCursor}`)])
    : undefined;
  return { text, keyboard };
}

/** /history: the last 10 movements, older pages through the inline "Más" button. */
export const historyFeature = new Composer<BotContext>();

historyFeature.command(['history', 'historial'], async (ctx) => {
  if (!ctx.state.user) return;
  const { text, keyboard } = await renderPage(ctx, ctx.state.user.id, null);
  await ctx.reply(text, { parse_mode: 'HTML', ...keyboard });
});

historyFeature.action(/^hist:(\d{1,15})$/, async (ctx) => {
  if (!ctx.state.user) return ctx.answerCbQuery();
  const { text, keyboard } = await renderPage(ctx, ctx.state.user.id, Number(ctx.match[1]));
  await ctx.answerCbQuery();
  await ctx.reply(text, { parse_mode: 'HTML', ...keyboard });
});
