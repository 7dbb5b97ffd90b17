import { DAY_MS, type InvoicePayload, type Plan } from './plans.js';

/** Pure decisions of the VIP module: no I/O, unit-tested. */

export type CheckoutVerdict = { ok: true; plan: Plan } | { ok: false; reason: 'tampered' | 'unknown_plan' | 'price_changed' | 'currency' };

/** Whether a pre-checkout (or a payment) matches an invoice we issued for a plan on sale at that price. */
export function checkCheckout(
  plans: readonly Plan[],
  payload: InvoicePayload | null,
  paid: { currency: string; total_amount: number },
): CheckoutVerdict {
  if (!payload) return { ok: false, reason: 'tampered' };
  if (paid.currency !== 'XTR') return { ok: false, reason: 'currency' };
  const plan = plans.find((p) => p.key === payload.plan);
  if (!plan) return { ok: false, reason: 'unknown_plan' };
  if (payload.price !== paid.total_amount) return { ok: false, reason: 'tampered' };
  if (plan.stars !== paid.total_amount) return { ok: false, reason: 'price_changed' };
  return { ok: true, plan };
}

export interface CurrentVip {
  status: 'active' | 'expired' | 'refunded' | 'revoked';
  startedAt: Date;
  expiresAt: Date;
  recurring: boolean;
  renewalCanceled: boolean;
  paymentFailed: boolean;
}

/** VIP access now: an active record whose period (with a renewal's grace) has not ended. */
export function isActive(v: CurrentVip | null, now: Date): boolean {
  return v !== null && v.status === 'active' && accessEndsAt(v).getTime() > now.getTime();
}

/**
 * The period a credit buys. Access already running is extended from its end (never shortened), so
 * days paid for are never lost; otherwise it starts now and, for a Stars subscription, ends at
 * Telegram's subscription_expiration_date when given.
 */
export function periodFor(current: CurrentVip | null, now: Date, days: number, telegramEnd?: Date): { start: Date; end: Date; started: boolean } {
  if (isActive(current, now)) {
    const start = current!.expiresAt;
    return { start, end: new Date(start.getTime() + days * DAY_MS), started: false };
  }
  const end = telegramEnd && telegramEnd.getTime() > now.getTime() ? telegramEnd : new Date(now.getTime() + days * DAY_MS);
  return { start: now, end, started: true };
}

/**
 * When access really ends: a Stars subscription that will renew gets a grace period, so that a renewal
 * charged at (or just after) the end of the period never removes the subscriber first.
 */
export const RENEWAL_GRACE_MS = 6 * 3_600_000;
export function accessEndsAt(v: Pick<CurrentVip, 'expiresAt' | 'recurring' | 'renewalCanceled' | 'paymentFailed'>): Date {
  const renews = v.recurring && !v.renewalCanceled && !v.paymentFailed;
  return renews ? new Date(v.expiresAt.getTime() + RENEWAL_GRACE_MS) : v.expiresAt;
}

/** Days left, rounded up (a reminder "quedan 3 días"). */
export function daysLeft(expiresAt: Date, now: Date): number {
  return Math.max(0, Math.ceil((expiresAt.getTime() - now.getTime()) / DAY_MS));
}
