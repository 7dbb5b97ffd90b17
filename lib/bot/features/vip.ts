import { Composer, Markup } from 'telegraf';
import { message } from 'telegraf/filters';
import {
  applySubscriptionUpdate,
  checkPreCheckout,
  findPlan,
  isActive,
  NoRenewingSubscription,
  passInvoice,
  recordPayment,
  recordRefund,
  setRenewal,
  subscriptionInvoice,
  vipStatus,
  vipChannelIds,
  findChannel,
  setInviteLink,
} from '../../admin/index.js';
import { channelMessages } from '../messages-channels.js';
import { callApi, refundedPaymentOf, subscriptionUpdateOf, successfulPaymentOf } from '../../telegram/api.js';
import type { BotContext } from '../context.js';
import { vipMessages as m } from '../messages-vip.js';

/** /vip, Stars payments (pre-checkout, successful_payment, refunds, subscription changes), /paysupport, /terms. */
export const vipFeature = new Composer<BotContext>();

const HTML = { parse_mode: 'HTML' as const };

vipFeature.command('vip', async (ctx) => {
  const user = ctx.state.user;
  const vip = ctx.deps.settings.vip;
  if (!user || !vip) return;
  const now = ctx.deps.clock();
  const s = await vipStatus(ctx.deps.db, user.id, now);
  const tz = ctx.deps.settings.timeZone;
  const buttons = vip.plans.map((p) => [Markup.button.callback(m.buyButton(p), `vip:buy:${p.key}`)]);
  if (s.active && s.vip) {
    const v = s.vip;
    if (v.recurring && v.recurringChargeId) {
      buttons.unshift([Markup.button.callback(v.renewalCanceled ? m.resumeRenewalButton : m.cancelRenewalButton, v.renewalCanceled ? 'vip:renew:on' : 'vip:renew:off')]);
    }
    const text = m.vipActive(
      { expiresAt: v.expiresAt, renews: v.recurring && !v.renewalCanceled, canceled: v.recurring && v.renewalCanceled, failed: v.paymentFailed, plan: v.plan },
      tz,
    );
    // A renewing subscriber is not offered the monthly plan again.
    const offer: ReturnType<typeof Markup.button.callback | typeof Markup.button.url>[][] =
      v.recurring && !v.renewalCanceled ? buttons.filter((row) => !row[0]!.callback_data.endsWith(':monthly')) : buttons;
    const link = await vipJoinLink(ctx);
    if (link) offer.unshift([Markup.button.url(channelMessages.joinButton, link)]);
    await ctx.reply(text, { ...HTML, ...Markup.inlineKeyboard(offer) });
    return;
  }
  await ctx.reply(m.vipFree(vip.plans), { ...HTML, ...Markup.inlineKeyboard(buttons) });
});

/**
 * The VIP channel's join-request link (created once, kept): whoever uses it is checked against their
 * own VIP when the request arrives, so a link passed on grants nothing.
 */
async function vipJoinLink(ctx: Pick<BotContext, 'deps' | 'telegram'>): Promise<string | null> {
  const [chatId] = await vipChannelIds(ctx.deps.db);
  if (chatId === undefined) return null;
  const channel = await findChannel(ctx.deps.db, chatId);
  if (channel?.invite_link) return channel.invite_link;
  try {
    const link = await callApi(ctx.telegram, 'createChatInviteLink', { chat_id: chatId, name: 'VIP (solicitud)', creates_join_request: true });
    await setInviteLink(ctx.deps.db, chatId, link.invite_link);
    return link.invite_link;
  } catch (err) {
    ctx.deps.log.warn({ msg: 'vip invite link not created', chat_id: chatId, error: String(err) });
    return null;
  }
}

vipFeature.action(/^vip:buy:([a-z0-9]{1,16})$/, async (ctx) => {
  const vip = ctx.deps.settings.vip;
  const plan = vip ? findPlan(vip, ctx.match[1]!) : undefined;
  if (!vip || !plan || !ctx.chat) return ctx.answerCbQuery(m.preCheckoutRefused.unknown_plan);
  await ctx.answerCbQuery();
  if (plan.kind === 'pass') {
    await callApi(ctx.telegram, 'sendInvoice', passInvoice(vip, plan, ctx.chat.id));
    return;
  }
  // Only createInvoiceLink takes subscription_period: the subscription is paid through a link.
  const link = await callApi(ctx.telegram, 'createInvoiceLink', subscriptionInvoice(vip, plan));
  await ctx.reply(m.subscriptionLink(plan), { ...HTML, ...Markup.inlineKeyboard([Markup.button.url(m.payButton(plan), link)]) });
});

vipFeature.action(/^vip:renew:(on|off)$/, async (ctx) => {
  const user = ctx.state.user;
  if (!user) return ctx.answerCbQuery();
  const canceled = ctx.match[1] === 'off';
  try {
    const r = await setRenewal(ctx.deps.db, ctx.telegram, user, canceled, ctx.state.requestKey, ctx.deps.clock());
    await ctx.answerCbQuery();
    const tz = ctx.deps.settings.timeZone;
    await ctx.reply(canceled ? m.renewalCanceled(r.expiresAt, tz) : m.renewalResumed(r.expiresAt, tz), HTML);
  } catch (err) {
    if (err instanceof NoRenewingSubscription) return ctx.answerCbQuery(m.noRenewing, { show_alert: true });
    throw err;
  }
});

/**
 * Answered from the signed payload and the user state the middleware already loaded (banned users
 * never get here: the middleware refuses them): no query, no other call before the answer.
 */
vipFeature.on('pre_checkout_query', async (ctx) => {
  const vip = ctx.deps.settings.vip;
  const verdict = vip ? checkPreCheckout(vip, ctx.preCheckoutQuery) : ({ ok: false, reason: 'unknown_plan' } as const);
  if (verdict.ok) await ctx.answerPreCheckoutQuery(true);
  else {
    await ctx.answerPreCheckoutQuery(false, m.preCheckoutRefused[verdict.reason]);
    ctx.deps.log.warn({ msg: 'pre-checkout refused', reason: verdict.reason, update_id: ctx.update.update_id });
  }
});

vipFeature.on(message('successful_payment'), async (ctx) => {
  const user = ctx.state.user;
  const vip = ctx.deps.settings.vip;
  const sp = successfulPaymentOf(ctx);
  if (!user || !vip || !sp) return;
  const tz = ctx.deps.settings.timeZone;
  const { result, notify } = await recordPayment(ctx.deps.db, vip, user.id, sp, ctx.update.update_id, ctx.deps.clock());
  if (!notify || result.status === 'duplicate') return;
  if (result.status === 'unmatched') {
    ctx.deps.log.warn({ msg: 'payment for an invoice we never issued', charge: sp.telegram_payment_charge_id, update_id: ctx.update.update_id });
    await ctx.reply(m.paymentUnmatched);
    return;
  }
  const plan = findPlan(vip, result.plan);
  const until = new Date(result.expiresAt);
  await ctx.reply(result.status === 'started' ? m.paymentStarted(plan?.title ?? result.plan, until, tz) : m.paymentExtended(until, tz), HTML);
});

vipFeature.on(message('refunded_payment' as never), async (ctx, next) => {
  const user = ctx.state.user;
  const rp = refundedPaymentOf(ctx);
  if (!user || !rp) return next();
  if (await recordRefund(ctx.deps.db, user.id, rp, ctx.deps.clock())) await ctx.reply(m.refundedToUser);
});

// Update.subscription (Bot API 10.2) is unknown to telegraf's filters: read it through the typed layer.
vipFeature.use(async (ctx, next) => {
  const u = subscriptionUpdateOf(ctx);
  if (!u) return next();
  const now = ctx.deps.clock();
  const r = await applySubscriptionUpdate(ctx.deps.db, u, now);
  if (!r || !isActive(r.vip, now)) return;
  const tz = ctx.deps.settings.timeZone;
  const text =
    u.state === 'canceled'
      ? m.subscriptionCanceledByUser(r.vip.expiresAt, tz)
      : u.state === 'active'
        ? m.subscriptionResumedByUser(r.vip.expiresAt, tz)
        : m.subscriptionFailed(r.vip.expiresAt, tz);
  await ctx.telegram.sendMessage(u.user.id, text, HTML);
});

vipFeature.command('paysupport', (ctx) => ctx.reply(m.paysupport, HTML));
vipFeature.command(['terms', 'terminos'], (ctx) => ctx.reply(m.terms, HTML));
