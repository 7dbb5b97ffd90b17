import { Composer } from 'telegraf';
import type { BotContext } from '../context.js';

export const helpFeature = new Composer<BotContext>();

helpFeature.command(['ayuda', 'help'], (ctx) => ctx.reply(ctx.t.help(), { parse_mode: 'HTML' }));
// The "❓ Ayuda" main button (features/conversation.ts).
helpFeature.action('m:ayuda', async (ctx) => {
  await ctx.answerCbQuery();
  await ctx.reply(ctx.t.help(), { parse_mode: 'HTML' });
});
