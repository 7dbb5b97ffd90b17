import { Composer } from 'telegraf';
import type { BotContext } from '../context.js';

export const helpFeature = new Composer<BotContext>();

helpFeature.help((ctx) => ctx.reply(ctx.t.help(), { parse_mode: 'HTML' }));
