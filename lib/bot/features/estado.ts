import { Composer } from 'telegraf';
import { jobQueue } from '../../scheduler/index.js';
import type { BotContext } from '../context.js';
import { estadoMessages as m } from '../messages-estado.js';

/** /estado: the scheduled jobs' queue — due, running, failed (admins only, ADMIN_USER_IDS). */
export const estadoFeature = new Composer<BotContext>();

estadoFeature.command('estado', async (ctx) => {
  if (!ctx.from || !ctx.deps.settings.adminTelegramIds.includes(ctx.from.id)) {
    await ctx.reply(ctx.t.forbidden());
    return;
  }
  const now = ctx.deps.clock();
  const queue = await jobQueue(ctx.deps.db, now);
  await ctx.reply(m.queue(queue, ctx.deps.settings.timeZone, now), { parse_mode: 'HTML' });
});
