import { Composer, Markup } from 'telegraf';
import { referralSummary } from '../../gamification/referrals.js';
import { referralLink } from '../../gamification/rules-referral.js';
import type { BotContext } from '../context.js';
import { rf } from '../messages-referrals.js';

/** /invitar and /perfil's «📣 Invitar»: the user's link and a button that opens Telegram's share sheet. */
export const invitarFeature = new Composer<BotContext>();

async function invite(ctx: BotContext): Promise<void> {
  const me = ctx.state.userState;
  if (!me) return;
  const bot = ctx.botInfo?.username;
  if (!bot) return void (await ctx.reply(rf.noUsername));
  const summary = await referralSummary(ctx.deps.db, me.id);
  const link = referralLink(bot, summary.code);
  const share = `https://t.me/share/url?url=${encodeURIComponent(link)}&text=${encodeURIComponent(rf.shareText)}`;
  await ctx.reply(rf.invite(summary, link), {
    parse_mode: 'HTML',
    link_preview_options: { is_disabled: true },
    ...Markup.inlineKeyboard([[Markup.button.url(rf.shareButton, share)]]),
  });
}

invitarFeature.command(['invitar', 'invite', 'referidos'], (ctx) => invite(ctx as unknown as BotContext));
invitarFeature.action('ref:share', async (ctx) => {
  await ctx.answerCbQuery();
  await invite(ctx as unknown as BotContext);
});
