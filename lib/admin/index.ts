import { randomBytes } from 'node:crypto';
import type { Telegram } from 'telegraf';
import { runCommand, type CommandDef } from '../commands/index.js';
import type { Queryable, Sql } from '../db/client.js';
import { withTransaction } from '../db/transaction.js';
import { findUserByTelegramId } from '../users/lookup.js';
import { callApi, type Params, type RefundedPaymentData, type SubscriptionUpdate, type SuccessfulPaymentData } from '../telegram/api.js';
import { vipPaymentCommand, vipRefundCommand, vipRenewalCommand, type PaymentResult } from './commands.js';
import { SUBSCRIPTION_PERIOD_SECONDS, signPayload, verifyPayload, type Plan } from './plans.js';
import { endVip, findPayment, findVip, markRefunded, setPaymentFailed, setRenewalCanceled, type VipRecord } from './repository.js';
import { checkCheckout, isActive, type CheckoutVerdict } from './rules.js';
import './provider.js';
import './jobs.js';

export { plansFrom, invoiceKey, type Plan } from './plans.js';
export { isActive, accessEndsAt } from './rules.js';
export { findVip, type VipRecord } from './repository.js';
export * from './commands.js';
export * from './channels.js';
export { vipJobKinds, removeFromVipChannels } from './jobs.js';
export { publishPostJob, findPost, postMarkup, type PostRow } from './posts.js';

/** What the VIP features need from configuration. */
export interface VipSettings {
  plans: Plan[];
  /** HMAC key of invoice payloads (derived from the bot token). */
  invoiceKey: Buffer;
}

export function findPlan(s: VipSettings, key: string): Plan | undefined {
  return s.plans.find((p) => p.key === key);
}

function newPayload(s: VipSettings, plan: Plan): string {
  return signPayload(s.invoiceKey, plan.key, plan.stars, randomBytes(9).toString('base64url'));
}

/** sendInvoice parameters of a one-off pass (Stars: XTR, no provider token, one price). */
export function passInvoice(s: VipSettings, plan: Plan, chatId: number): Params<'sendInvoice'> {
  return {
    chat_id: chatId,
    title: plan.title,
    description: plan.description,
    payload: newPayload(s, plan),
    currency: 'XTR',
    prices: [{ label: plan.title, amount: plan.stars }],
  };
}

/** createInvoiceLink parameters of the monthly Stars subscription (only that method takes subscription_period). */
export function subscriptionInvoice(s: VipSettings, plan: Plan): Params<'createInvoiceLink'> {
  return {
    title: plan.title,
    description: plan.description,
    payload: newPayload(s, plan),
    currency: 'XTR',
    prices: [{ label: plan.title, amount: plan.stars }],
    subscription_period: SUBSCRIPTION_PERIOD_SECONDS,
  };
}

/** The pre-checkout decision, from the payload alone (no query: Telegram waits at most 10 s). */
export function checkPreCheckout(s: VipSettings, q: { currency: string; total_amount: number; invoice_payload: string }): CheckoutVerdict {
  return checkCheckout(s.plans, verifyPayload(s.invoiceKey, q.invoice_payload), q);
}

export interface PaymentOutcome {
  result: PaymentResult;
  /**
   * Tell the user: the charge was recorded now, or by this same update in an attempt that failed
   * before confirming (Telegram retries it). A replay of the charge in another update says nothing.
   */
  notify: boolean;
}

/**
 * successful_payment: the only place access is paid for. Idempotent on telegram_payment_charge_id:
 * a replay of the same charge changes nothing; another charge of the same invoice extends.
 */
export async function recordPayment(db: Sql, s: VipSettings, userId: number, sp: SuccessfulPaymentData, updateId: number, now: Date): Promise<PaymentOutcome> {
  const verdict = checkPreCheckout(s, sp);
  // A price changed between pre-checkout and payment still paid for the plan: the payload's price was ours.
  const payload = verifyPayload(s.invoiceKey, sp.invoice_payload);
  const plan = verdict.ok ? verdict.plan : verdict.reason === 'price_changed' && payload ? findPlan(s, payload.plan) : undefined;
  const run = await runCommand(db, vipPaymentCommand, {
    userId,
    idempotencyKey: `vip:charge:${sp.telegram_payment_charge_id}`,
    now,
    params: {
      chargeId: sp.telegram_payment_charge_id,
      plan: plan?.key ?? null,
      days: plan?.days ?? 30,
      currency: sp.currency,
      amount: sp.total_amount,
      payload: sp.invoice_payload.slice(0, 256),
      isRecurring: sp.is_recurring === true,
      isFirstRecurring: sp.is_first_recurring === true,
      subscriptionExpiration: sp.subscription_expiration_date ?? null,
      updateId,
    },
  });
  if (!run.replayed) return { result: run.result!, notify: run.result!.status !== 'duplicate' };
  const payment = await findPayment(db, sp.telegram_payment_charge_id);
  return { result: run.result ?? { status: 'duplicate' }, notify: payment !== null && Number(payment.update_id) === updateId };
}

export interface VipStatus {
  active: boolean;
  vip: VipRecord | null;
}

export async function vipStatus(db: Queryable, userId: number, now: Date): Promise<VipStatus> {
  const vip = await findVip(db, userId);
  return { active: isActive(vip, now), vip };
}

export class NoRenewingSubscription extends Error {
  constructor() {
    super('no renewing Stars subscription');
    this.name = 'NoRenewingSubscription';
  }
}

/** The user stops (or restarts) the renewal of their Stars subscription; access stays until the end. */
export async function setRenewal(db: Sql, telegram: Telegram, user: { id: number; telegramId: number }, canceled: boolean, key: string, now: Date) {
  const vip = await findVip(db, user.id);
  if (!vip || !isActive(vip, now) || !vip.recurring || !vip.recurringChargeId) throw new NoRenewingSubscription();
  await callApi(telegram, 'editUserStarSubscription', { user_id: user.telegramId, telegram_payment_charge_id: vip.recurringChargeId, is_canceled: canceled });
  const run = await runCommand(db, vipRenewalCommand, { userId: user.id, idempotencyKey: key, params: { canceled }, now });
  return { expiresAt: vip.expiresAt, replayed: run.replayed };
}

export class UnknownCharge extends Error {
  constructor() {
    super('unknown charge');
    this.name = 'UnknownCharge';
  }
}

/**
 * An admin refunds a charge: refundStarPayment first (Telegram returns the Stars), then the record
 * and the end of access, as the admin's command (audit trail). A charge Telegram says was already
 * refunded is recorded all the same.
 */
export async function refundCharge(db: Sql, telegram: Telegram, adminUserId: number, chargeId: string, reason: string, key: string, now: Date) {
  const payment = await findPayment(db, chargeId);
  if (!payment || payment.user_id === null) throw new UnknownCharge();
  const [target] = await db<{ telegram_id: string | null }[]>`SELECT telegram_id FROM users WHERE id = ${payment.user_id}`;
  if (payment.status !== 'refunded') {
    if (!target?.telegram_id) throw new UnknownCharge();
    try {
      await callApi(telegram, 'refundStarPayment', { user_id: Number(target.telegram_id), telegram_payment_charge_id: chargeId });
    } catch (err) {
      if (!/CHARGE_ALREADY_REFUNDED/i.test(String((err as Error)?.message))) throw err;
    }
    // A refunded subscription must not renew (not confirmed that a refund cancels it): best effort.
    if (payment.is_recurring) {
      await callApi(telegram, 'editUserStarSubscription', {
        user_id: Number(target.telegram_id),
        telegram_payment_charge_id: chargeId,
        is_canceled: true,
      }).catch(() => undefined);
    }
  }
  const run = await runCommand(db, vipRefundCommand, { userId: adminUserId, idempotencyKey: key, params: { chargeId, targetUserId: payment.user_id, reason }, now });
  return { ...run.result!, targetUserId: payment.user_id, targetTelegramId: target?.telegram_id ? Number(target.telegram_id) : null };
}

/** Message.refunded_payment (a refund made outside our command, or its echo): recorded once, access ended. */
export async function recordRefund(db: Sql, userId: number, rp: RefundedPaymentData, now: Date): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    const row = await markRefunded(tx, rp.telegram_payment_charge_id, 'telegram', now);
    if (!row) return false;
    await endVip(tx, userId, 'refunded', now);
    return true;
  });
}

/** Update.subscription: the user canceled or re-enabled renewal, or a renewal payment failed. */
export async function applySubscriptionUpdate(db: Sql, u: SubscriptionUpdate, now: Date): Promise<{ userId: number; vip: VipRecord } | null> {
  const user = await findUserByTelegramId(db, u.user.id);
  if (!user) return null;
  const vip =
    u.state === 'failed' ? await setPaymentFailed(db, user.id, now) : await setRenewalCanceled(db, user.id, u.state === 'canceled', now);
  return vip ? { userId: user.id, vip } : null;
}

/** Runs an admin's command (its action row, under the admin's id, is the audit trail) and returns its result. */
export async function runAdminCommand<P, R>(db: Sql, def: CommandDef<P, R>, adminUserId: number, key: string, params: P, now: Date): Promise<R> {
  const run = await runCommand(db, def, { userId: adminUserId, idempotencyKey: key, params, now });
  return run.result as R;
}
