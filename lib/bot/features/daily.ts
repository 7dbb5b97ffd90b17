import { Composer } from 'telegraf';
import { claimDailyGift } from '../../besitos/daily.js';
import type { BotContext } from '../context.js';

/** /daily: the daily gift, once per calendar day in the configured zone, with a streak. */
export const dailyFeature = new Composer<BotContext>();

dailyFeature.command(['daily', 'regalo'], async (ctx) => {
  if (!ctx.state.user) return;
  const { db, kv, clock, log, settings } = ctx.deps;
  const r = await claimDailyGift(
    { db, kv, clock, timeZone: settings.timeZone, amount: settings.dailyAmount, log: (l) => log.warn({ msg: 'daily', ...l }) },
    ctx.state.user.id,
    ctx.state.requestKey,
  );
  const text =
    r.status === 'granted'
      ? ctx.t.dailyGranted(r.amount, r.streak, r.balance, r.nextClaimAt, settings.timeZone)
      : ctx.t.dailyAlready(r.streak, r.nextClaimAt, settings.timeZone);
  await ctx.reply(text, { parse_mode: 'HTML' });
});
