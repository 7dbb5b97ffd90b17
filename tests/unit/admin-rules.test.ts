import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { invoiceKey, plansFrom, signPayload, verifyPayload } from '../../lib/admin/plans.js';
import { accessEndsAt, checkCheckout, isActive, periodFor, type CurrentVip } from '../../lib/admin/rules.js';

const DAY = 86_400_000;
const key = invoiceKey('1:token');
const plans = plansFrom({ monthlyStars: 250, passStars: 300 });
const now = new Date('2026-11-26T12:00:00Z');
const vip = (o: Partial<CurrentVip>): CurrentVip => ({
  status: 'active', startedAt: new Date(now.getTime() - 10 * DAY), expiresAt: new Date(now.getTime() + 5 * DAY),
  recurring: false, renewalCanceled: false, paymentFailed: false, ...o,
});

describe('VIP rules', () => {
  it('signed payloads: verified as issued, any change of a character refused', () => {
    const p = signPayload(key, 'pass30', 300, 'n1');
    expect(Buffer.byteLength(p)).toBeLessThanOrEqual(128);
    expect(verifyPayload(key, p)).toEqual({ plan: 'pass30', price: 300, nonce: 'n1' });
    expect(verifyPayload(invoiceKey('2:other'), p)).toBeNull();
    fc.assert(
      fc.property(fc.nat({ max: p.length - 1 }), fc.constantFrom(...'abcXYZ019:-_'), (i, ch) => {
        const changed = p.slice(0, i) + ch + p.slice(i + 1);
        return changed === p || verifyPayload(key, changed) === null;
      }),
    );
  });

  it('checkout: plan, price and currency must match an invoice we issued', () => {
    const ok = verifyPayload(key, signPayload(key, 'pass30', 300, 'n'));
    expect(checkCheckout(plans, ok, { currency: 'XTR', total_amount: 300 })).toMatchObject({ ok: true, plan: { key: 'pass30' } });
    expect(checkCheckout(plans, ok, { currency: 'XTR', total_amount: 1 })).toEqual({ ok: false, reason: 'tampered' });
    expect(checkCheckout(plans, ok, { currency: 'EUR', total_amount: 300 })).toEqual({ ok: false, reason: 'currency' });
    expect(checkCheckout(plans, null, { currency: 'XTR', total_amount: 300 })).toEqual({ ok: false, reason: 'tampered' });
    const old = verifyPayload(key, signPayload(key, 'pass30', 200, 'n'));
    expect(checkCheckout(plans, old, { currency: 'XTR', total_amount: 200 })).toEqual({ ok: false, reason: 'price_changed' });
    const gone = verifyPayload(key, signPayload(key, 'gold', 300, 'n'));
    expect(checkCheckout(plans, gone, { currency: 'XTR', total_amount: 300 })).toEqual({ ok: false, reason: 'unknown_plan' });
  });

  it('a period extends running access from its end and starts now otherwise; never shortens', () => {
    expect(periodFor(null, now, 30)).toEqual({ start: now, end: new Date(now.getTime() + 30 * DAY), started: true });
    const running = vip({});
    expect(periodFor(running, now, 30)).toEqual({ start: running.expiresAt, end: new Date(running.expiresAt.getTime() + 30 * DAY), started: false });
    const tgEnd = new Date(now.getTime() + 29 * DAY);
    expect(periodFor(vip({ status: 'expired' }), now, 30, tgEnd).end).toEqual(tgEnd);
    fc.assert(
      fc.property(fc.integer({ min: -60, max: 60 }), fc.integer({ min: 1, max: 400 }), (offset, days) => {
        const v = vip({ expiresAt: new Date(now.getTime() + offset * DAY) });
        const p = periodFor(v, now, days);
        return p.end.getTime() >= Math.max(v.expiresAt.getTime(), now.getTime()) + days * DAY - 1;
      }),
    );
  });

  it('a renewing subscription keeps access through a grace period; a canceled or failed one ends on time', () => {
    const ended = vip({ expiresAt: new Date(now.getTime() - 60_000) });
    expect(isActive(ended, now)).toBe(false);
    expect(isActive({ ...ended, recurring: true }, now)).toBe(true);
    expect(isActive({ ...ended, recurring: true, renewalCanceled: true }, now)).toBe(false);
    expect(isActive({ ...ended, recurring: true, paymentFailed: true }, now)).toBe(false);
    expect(accessEndsAt({ ...ended, recurring: false }).getTime()).toBe(ended.expiresAt.getTime());
    expect(isActive(vip({ status: 'refunded' }), now)).toBe(false);
  });
});
