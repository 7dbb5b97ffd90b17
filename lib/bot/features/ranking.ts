import { Composer, Markup } from 'telegraf';
import { runCommand } from '../../commands/index.js';
import { rankingView, rankingVisibilityCommand } from '../../gamification/ranking.js';
import type { Board } from '../../gamification/rules-ranking.js';
import type { BotContext } from '../context.js';
import { rk } from '../messages-ranking.js';

/** /ranking: weekly and all-time boards (lib/gamification/ranking.ts), switched with two buttons. */
export const rankingFeature = new Composer<BotContext>();

const keyboard = (board: Board, anonymous: boolean) =>
  Markup.inlineKeyboard([
    [Markup.button.callback(board === 'week' ? `· ${rk.weekButton} ·` : rk.weekButton, 'rk:w'), Markup.button.callback(board === 'all' ? `· ${rk.allButton} ·` : rk.allButton, 'rk:a')],
    [Markup.button.callback(anonymous ? rk.showButton : rk.hideButton, `rk:n:${anonymous ? 0 : 1}:${board === 'all' ? 'a' : 'w'}`)],
  ]);

async function view(ctx: Pick<BotContext, 'deps'>, userId: number, board: Board) {
  return rankingView(ctx.deps.db, ctx.deps.kv, { userId, board, now: ctx.deps.clock(), timeZone: ctx.deps.settings.timeZone, log: ctx.deps.log });
}

rankingFeature.command(['ranking', 'clasificacion'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const v = await view(ctx, me.id, 'week');
  await ctx.reply(rk.board(v), { parse_mode: 'HTML', ...keyboard('week', v.anonymous) });
});

// The buttons only show the presser's own view: nothing to forge. Unknown data: the spinner stops.
rankingFeature.action(/^rk:([wa])$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  const board: Board = ctx.match[1] === 'a' ? 'all' : 'week';
  const v = await view(ctx, me.id, board);
  await ctx.answerCbQuery();
  await ctx.editMessageText(rk.board(v), { parse_mode: 'HTML', ...keyboard(board, v.anonymous) }).catch(notModified);
});

// The same board pressed again: Telegram refuses an identical edit.
function notModified(err: unknown) {
  if (!String(err).includes('message is not modified')) throw err;
}

// «Anónimo» on or off: a command keyed by the press (a double tap or a redelivery sets it once).
rankingFeature.action(/^rk:n:([01]):([wa])$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  const anonymous = ctx.match[1] === '1';
  await runCommand(ctx.deps.db, rankingVisibilityCommand, { userId: me.id, idempotencyKey: `${ctx.state.requestKey}:ranking-visibility`, params: { anonymous }, now: ctx.deps.clock() });
  const v = await view(ctx, me.id, ctx.match[2] === 'a' ? 'all' : 'week');
  await ctx.answerCbQuery(anonymous ? rk.nowAnonymous : rk.nowNamed);
  await ctx.editMessageText(rk.board(v), { parse_mode: 'HTML', ...keyboard(v.board, v.anonymous) }).catch(notModified);
});
