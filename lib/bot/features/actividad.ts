import { Composer, Markup } from 'telegraf';
import { listActions, type ActionRecord } from '../../commands/index.js';
import { displayName, findUsersByIds } from '../../users/lookup.js';
import type { BotContext } from '../context.js';
import { cb } from '../keyboard.js';
import { shortName } from '../reply.js';

const PAGE_SIZE = 10;

function label(ctx: Pick<BotContext, 't'>, a: ActionRecord, names: Map<number, string | null>): string {
  const L = ctx.t.activityLabels;
  const p = (a.params ?? {}) as { amount?: number; toUserId?: number };
  if (a.name === 'gift') {
    if (typeof p.amount !== 'number') return L.other('Regalo');
    return L.gift(p.amount, names.get(p.toUserId ?? 0) ?? null);
  }
  if (a.name === 'gift.undo') return L.giftUndo();
  if (a.name === 'export') return L.export();
  if (a.name === 'daily') {
    const r = a.result as { status?: string; amount?: number } | null;
    return r?.status === 'granted' && typeof r.amount === 'number' ? L.daily(r.amount) : L.dailyAlready();
  }
  // Story and trivia moves carry their Spanish label in the result (lib/narrative); /borrar blanks it.
  const story = a.result as { label?: unknown } | null;
  if ((a.name === 'story' || a.name === 'trivia') && typeof story?.label === 'string') return L.other(story.label);
  if (a.name === 'story' || a.name === 'trivia') return L.other(a.name === 'story' ? 'Historia' : 'Trivia');
  return L.other(a.name);
}

async function renderPage(ctx: Pick<BotContext, 'deps' | 't'>, userId: number, beforeId: number | null) {
  const page = await listActions(ctx.deps.db, userId, { limit: PAGE_SIZE, beforeId });
  if (page.actions.length === 0) {
    const keyboard = beforeId ? Markup.inlineKeyboard([Markup.button.callback(ctx.t.historyNewer(), 'act:top')]) : undefined;
    return { text: beforeId ? ctx.t.activityNoMore() : ctx.t.activityEmpty(), keyboard };
  }
  const ids = page.actions.map((a) => (a.params as { toUserId?: number })?.toUserId).filter((x): x is number => typeof x === 'number');
  const users = await findUsersByIds(ctx.deps.db, ids);
  const names = new Map([...users].map(([id, u]) => [id, displayName(u) && shortName(displayName(u)!, 24)]));
  const lines = page.actions.map((a) =>
    ctx.t.activityLine(
      { at: a.createdAt, label: label(ctx, a, names), outcome: ctx.t.activityOutcomes[a.status] ?? a.status },
      ctx.deps.settings.timeZone,
      ctx.deps.clock(),
    ),
  );
  const text = `${ctx.t.activityTitle(Boolean(beforeId))}\n\n${lines.join('\n')}`;
  const buttons = [
    ...(beforeId ? [Markup.button.callback(ctx.t.historyNewer(), 'act:top')] : []),
    ...(page.nextCursor ? [Markup.button.callback(ctx.t.activityMore(), cb('act', page.nextCursor))] : []),
  ];
  return { text, keyboard: buttons.length ? Markup.inlineKeyboard([buttons]) : undefined };
}

/** /actividad: the user's last actions with date and outcome, older pages through "Más ▸" (in place). */
export const actividadFeature = new Composer<BotContext>();

actividadFeature.command(['actividad', 'activity'], async (ctx) => {
  if (!ctx.state.userState) return;
  const { text, keyboard } = await renderPage(ctx, ctx.state.userState.id, null);
  await ctx.reply(text, { parse_mode: 'HTML', ...keyboard });
});

// Pages in place like /historial; "act:0" (the /perfil menu's button) answers with a new message.
actividadFeature.action(/^act:(\d{1,15}|top)$/, async (ctx) => {
  if (!ctx.state.userState) return ctx.answerCbQuery();
  const cursor = ctx.match[1] === 'top' ? 0 : Number(ctx.match[1]);
  const { text, keyboard } = await renderPage(ctx, ctx.state.userState.id, cursor === 0 ? null : cursor);
  await ctx.answerCbQuery();
  if (ctx.match[1] === '0') return void (await ctx.reply(text, { parse_mode: 'HTML', ...keyboard }));
  await ctx.editMessageText(text, { parse_mode: 'HTML', ...keyboard });
});
