import { Composer, Markup } from 'telegraf';
import { rankingView } from '../../gamification/ranking.js';
import type { Board } from '../../gamification/rules-ranking.js';
import type { BotContext } from '../context.js';
import { rk } from '../messages-ranking.js';

/** /ranking: weekly and all-time boards (lib/gamification/ranking.ts), switched with two buttons. */
export const rankingFeature = new Composer<BotContext>();

const keyboard = (board: Board) =>
  Markup.inlineKeyboard([
    [Markup.button.callback(board === 'week' ? `· ${rk.weekButton} ·` : rk.weekButton, 'rk:w'), Markup.button.callback(board === 'all' ? `· ${rk.allButton} ·` : rk.allButton, 'rk:a')],
  ]);

async function view(ctx: Pick<BotContext, 'deps'>, userId: number, board: Board) {
  return rankingView(ctx.deps.db, ctx.deps.kv, { userId, board, now: ctx.deps.clock(), timeZone: ctx.deps.settings.timeZone, log: ctx.deps.log });
}

rankingFeature.command(['ranking', 'clasificacion'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  await ctx.reply(rk.board(await view(ctx, me.id, 'week')), { parse_mode: 'HTML', ...keyboard('week') });
});

// The buttons only show the presser's own view: nothing to forge. Unknown data: the spinner stops.
rankingFeature.action(/^rk:([wa])$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  const board: Board = ctx.match[1] === 'a' ? 'all' : 'week';
  const v = await view(ctx, me.id, board);
  await ctx.answerCbQuery();
  await ctx.editMessageText(rk.board(v), { parse_mode: 'HTML', ...keyboard(board) }).catch((err: unknown) => {
    // The same board pressed again: Telegram refuses an identical edit.
    if (!String(err).includes('message is not modified')) throw err;
  });
});
