import { Composer } from 'telegraf';
import { getBalance } from '../../besitos/ledger.js';
import { expiringBonus, expiringLines } from '../../besitos/lots.js';
import type { BotContext, BotState } from '../context.js';

export const balanceFeature = new Composer<BotContext>();

type Ctx = Pick<BotContext, 'deps' | 't' | 'reply'> & { state: Pick<BotState, 'user' | 'userState'> };

async function showBalance(ctx: Ctx): Promise<void> {
  if (!ctx.state.user) return;
  // The balance came with the user's state, in this update's one state-load statement.
  const state = ctx.state.userState;
  const b = state ? { besitos: state.besitos, lifetimeBesitos: state.lifetimeBesitos, held: state.held } : await getBalance(ctx.deps.db, ctx.state.user.id);
  // Bonus besitos that expire (lib/besitos/lots.ts): one more read, only for users who hold some.
  const bonus = state ? state.bonusBesitos : 1;
  const expiring = bonus > 0 ? await expiringBonus(ctx.deps.db, ctx.state.user.id) : [];
  const lines = expiringLines(expiring, ctx.deps.settings.timeZone, ctx.deps.clock());
  await ctx.reply(ctx.t.balance(b.besitos, b.lifetimeBesitos, b.held) + (lines.length ? `\n\n${lines.join('\n')}\nSe gastan primero.` : ''), { parse_mode: 'HTML' });
}

balanceFeature.command(['saldo', 'balance'], (ctx) => showBalance(ctx));
// The "💰 Mis besitos" main button (features/conversation.ts).
balanceFeature.action('m:saldo', async (ctx) => {
  await ctx.answerCbQuery();
  await showBalance(ctx);
});
