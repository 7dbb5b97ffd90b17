import { Composer } from 'telegraf';
import { storyLevels } from '../../narrative/index.js';
import type { BotContext } from '../context.js';
import { playerOf, storyContent } from './historia.js';

/** /niveles: the level map — open, completed or locked with the reason — and x/y fragments per level. */
export const nivelesFeature = new Composer<BotContext>();

nivelesFeature.command(['niveles', 'levels'], async (cx) => {
  const ctx = cx as unknown as BotContext;
  const me = ctx.state.userState;
  if (!me) return;
  const content = await storyContent(ctx);
  if (!content) return;
  const levels = await storyLevels(ctx.deps.db, content, me.id, playerOf(me));
  const lines = levels.map((l) => ctx.t.levelLine({ ...l, reasons: l.lock?.reasons ?? null }));
  await ctx.reply([ctx.t.levelsTitle(), '', ...lines, '', ctx.t.levelsFooter()].join('\n'), { parse_mode: 'HTML' });
});
