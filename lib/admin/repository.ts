import type postgres from 'postgres';
import { createEvent } from '../bus/events.js';
import { publish } from '../bus/outbox.js';
import type { Queryable } from '../db/client.js';
import { periodFor, type CurrentVip } from './rules.js';

type Tx = postgres.TransactionSql<{}>;

export interface VipRecord extends CurrentVip {
  id: number;
  userId: number;
  plan: string;
  recurringChargeId: string | null;
}

interface VipRow {
  id: string | number;
  user_id: string | number;
  plan: string;
  status: CurrentVip['status'];
  started_at: Date;
  expires_at: Date;
  recurring: boolean;
  renewal_canceled: boolean;
  recurring_charge_id: string | null;
  payment_failed_at: Date | null;
}

export const toVip = (r: VipRow): VipRecord => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  plan: r.plan,
  status: r.status,
  startedAt: new Date(r.started_at),
  expiresAt: new Date(r.expires_at),
  recurring: r.recurring,
  renewalCanceled: r.renewal_canceled,
  recurringChargeId: r.recurring_charge_id,
  paymentFailed: r.payment_failed_at !== null,
});

export async function findVip(db: Queryable, userId: number): Promise<VipRecord | null> {
  const [row] = await db<VipRow[]>`SELECT * FROM vip_subscriptions WHERE user_id = ${userId}`;
  return row ? toVip(row) : null;
}

/** The user's VIP row, created (as expired) if absent, locked for the rest of the transaction. */
async function lockVip(tx: Tx, userId: number, plan: string, now: Date): Promise<VipRecord> {
  await tx`
    INSERT INTO vip_subscriptions (user_id, plan, status, started_at, expires_at)
    VALUES (${userId}, ${plan}, 'expired', ${now}, ${now}) ON CONFLICT (user_id) DO NOTHING`;
  const [row] = await tx<VipRow[]>`SELECT * FROM vip_subscriptions WHERE user_id = ${userId} FOR UPDATE`;
  return toVip(row!);
}

/** Timed work a VIP change needs (reminders, expiry); wired to the scheduler by the module. */
/** `previous` is the record as it was before the change (absent for a user's first period). */
export type PeriodHook = (tx: Tx, vip: VipRecord, now: Date, previous: VipRecord | null) => Promise<void>;
export type EndHook = (tx: Tx, vip: VipRecord, now: Date, previous: VipRecord) => Promise<void>;
const hooks: { period: PeriodHook[]; end: EndHook[] } = { period: [], end: [] };
export function onVipPeriod(h: PeriodHook): void {
  hooks.period.push(h);
}
export function onVipEnd(h: EndHook): void {
  hooks.end.push(h);
}

export interface ExtendInput {
  userId: number;
  plan: string;
  days: number;
  now: Date;
  /** Telegram's end of a Stars subscription period. */
  telegramEnd?: Date;
  /** A Stars subscription Telegram renews (first or later charge). */
  recurringChargeId?: string;
}

export interface ExtendResult {
  subscriptionId: number;
  started: boolean;
  start: Date;
  end: Date;
}

/**
 * Starts or extends a user's VIP (payment credited or manual grant), in the caller's transaction:
 * the record, users.status = 'vip' (a banned user stays banned), admin.subscription_started when a
 * period starts, and the timed jobs.
 */
export async function extendVip(tx: Tx, i: ExtendInput): Promise<ExtendResult> {
  const current = await lockVip(tx, i.userId, i.plan, i.now);
  const p = periodFor(current, i.now, i.days, i.telegramEnd);
  const recurring = i.recurringChargeId !== undefined;
  // A renewal charge or a new period resets the renewal flags; a pass or grant on top keeps them.
  const reset = recurring || p.started;
  const [row] = await tx<VipRow[]>`
    UPDATE vip_subscriptions SET
      plan = ${i.plan}, status = 'active',
      started_at = ${p.started ? p.start : current.startedAt},
      expires_at = ${p.end},
      recurring = ${recurring || (!p.started && current.recurring)},
      recurring_charge_id = ${recurring ? i.recurringChargeId! : p.started ? null : current.recurringChargeId},
      renewal_canceled = CASE WHEN ${reset} THEN false ELSE renewal_canceled END,
      payment_failed_at = CASE WHEN ${reset} THEN NULL ELSE payment_failed_at END,
      updated_at = ${i.now}
     WHERE id = ${current.id} RETURNING *`;
  await tx`UPDATE users SET status = 'vip' WHERE id = ${i.userId} AND status = 'free'`;
  const vip = toVip(row!);
  if (p.started) {
    await publish(
      tx,
      createEvent(
        'admin.subscription_started',
        { subscription_id: vip.id, plan: i.plan, starts_at: p.start.toISOString(), expires_at: p.end.toISOString() },
        i.userId,
        i.now,
      ),
    );
  }
  for (const h of hooks.period) await h(tx, vip, i.now, current.status === 'active' ? current : null);
  return { subscriptionId: vip.id, started: p.started, start: p.start, end: p.end };
}

/**
 * Ends a user's VIP now (refund, manual revocation, erasure) or at expiry: the record's status, the
 * user's status back to 'free', admin.subscription_expired. Returns null when there was nothing active.
 */
export async function endVip(tx: Tx, userId: number, status: 'expired' | 'refunded' | 'revoked', now: Date): Promise<VipRecord | null> {
  const [row] = await tx<VipRow[]>`SELECT * FROM vip_subscriptions WHERE user_id = ${userId} FOR UPDATE`;
  if (!row || row.status !== 'active') return null;
  const endAt = status === 'expired' ? new Date(Math.min(now.getTime(), new Date(row.expires_at).getTime())) : now;
  const [ended] = await tx<VipRow[]>`
    UPDATE vip_subscriptions SET status = ${status}, expires_at = GREATEST(started_at, ${endAt}::timestamptz), updated_at = ${now}
     WHERE id = ${row.id} RETURNING *`;
  await tx`UPDATE users SET status = 'free' WHERE id = ${userId} AND status = 'vip'`;
  const vip = toVip(ended!);
  const previous = toVip(row);
  await publish(tx, createEvent('admin.subscription_expired', { subscription_id: vip.id, expired_at: vip.expiresAt.toISOString() }, userId, now));
  for (const h of hooks.end) await h(tx, vip, now, previous);
  return vip;
}

export interface PaymentRow {
  id: number;
  charge_id: string;
  user_id: number | null;
  subscription_id: number | null;
  plan: string | null;
  amount: number;
  status: 'credited' | 'unmatched' | 'refunded';
  is_recurring: boolean;
  period_end: Date | null;
  paid_at: Date;
  update_id: number | null;
}

export async function findPayment(db: Queryable, chargeId: string): Promise<PaymentRow | null> {
  const [row] = await db<PaymentRow[]>`SELECT * FROM vip_payments WHERE charge_id = ${chargeId}`;
  return row ? { ...row, id: Number(row.id), user_id: row.user_id === null ? null : Number(row.user_id) } : null;
}

export interface NewPayment {
  chargeId: string;
  userId: number;
  plan: string | null;
  currency: string;
  amount: number;
  payload: string;
  status: 'credited' | 'unmatched';
  isRecurring: boolean;
  isFirstRecurring: boolean;
  subscriptionExpiration: Date | null;
  updateId: number | null;
  paidAt: Date;
}

/** Records a charge once; null when the charge id was already recorded. */
export async function insertPayment(tx: Tx, p: NewPayment): Promise<number | null> {
  const [row] = await tx<{ id: string }[]>`
    INSERT INTO vip_payments (charge_id, user_id, plan, currency, amount, invoice_payload, status, is_recurring,
                              is_first_recurring, subscription_expiration_date, update_id, paid_at)
    VALUES (${p.chargeId}, ${p.userId}, ${p.plan}, ${p.currency}, ${p.amount}, ${p.payload}, ${p.status}, ${p.isRecurring},
            ${p.isFirstRecurring}, ${p.subscriptionExpiration}, ${p.updateId}, ${p.paidAt})
    ON CONFLICT (charge_id) DO NOTHING RETURNING id`;
  return row ? Number(row.id) : null;
}

export async function linkPayment(tx: Tx, paymentId: number, subscriptionId: number, start: Date, end: Date): Promise<void> {
  await tx`UPDATE vip_payments SET subscription_id = ${subscriptionId}, period_start = ${start}, period_end = ${end} WHERE id = ${paymentId}`;
}

/** Marks a charge refunded once; false when it already was (or is unknown). */
export async function markRefunded(tx: Tx, chargeId: string, reason: string, now: Date): Promise<PaymentRow | null> {
  const [row] = await tx<PaymentRow[]>`
    UPDATE vip_payments SET status = 'refunded', refunded_at = ${now}, refund_reason = ${reason}
     WHERE charge_id = ${chargeId} AND status <> 'refunded' RETURNING *`;
  return row ? { ...row, user_id: row.user_id === null ? null : Number(row.user_id) } : null;
}

export async function setRenewalCanceled(db: Queryable, userId: number, canceled: boolean, now: Date): Promise<VipRecord | null> {
  const [row] = await db<VipRow[]>`
    UPDATE vip_subscriptions SET renewal_canceled = ${canceled}, updated_at = ${now}
     WHERE user_id = ${userId} AND recurring RETURNING *`;
  return row ? toVip(row) : null;
}

export async function setPaymentFailed(db: Queryable, userId: number, now: Date): Promise<VipRecord | null> {
  const [row] = await db<VipRow[]>`
    UPDATE vip_subscriptions SET payment_failed_at = ${now}, updated_at = ${now}
     WHERE user_id = ${userId} AND recurring RETURNING *`;
  return row ? toVip(row) : null;
}

export async function recentPayments(db: Queryable, userId: number, limit = 20): Promise<PaymentRow[]> {
  return db<PaymentRow[]>`SELECT * FROM vip_payments WHERE user_id = ${userId} ORDER BY id DESC LIMIT ${limit}`;
}
