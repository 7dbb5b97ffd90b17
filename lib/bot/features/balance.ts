import { Composer } from 'telegraf';
import { getBalance } from '../../besitos/ledger.js';
import type { BotContext } from '../context.js';

export const balanceFeature = new Composer<BotContext>();

balanceFeature.command(['balance', 'saldo'], async (ctx) => {
  if (!ctx.state.user) return;
  // The balance came with the user's state, in this update's one state-load statement.
  const state = ctx.state.userState;
  const b = state ? { besitos: state.besitos, lifetimeBesitos: state.lifetimeBesitos } : await getBalance(ctx.deps.db, ctx.state.user.id);
  await ctx.reply(ctx.t.balance(b.besitos, b.lifetimeBesitos), { parse_mode: 'HTML' });
});
