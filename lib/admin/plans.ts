import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SUBSCRIPTION_PERIOD_SECONDS = 2_592_000; // 30 days: the only period Telegram allows
export const DAY_MS = 86_400_000;

export interface Plan {
  key: 'monthly' | 'pass30';
  /** subscription: createInvoiceLink with subscription_period (Telegram renews it); pass: sendInvoice, once. */
  kind: 'subscription' | 'pass';
  title: string;
  description: string;
  stars: number;
  days: number;
}

export interface PlanSettings {
  monthlyStars: number;
  passStars: number;
}

/** The plans on sale, from configuration (VIP_MONTHLY_STARS, VIP_PASS_STARS). */
export function plansFrom(s: PlanSettings): Plan[] {
  return [
    {
      key: 'monthly',
      kind: 'subscription',
      title: 'VIP mensual',
      description: 'Acceso VIP: niveles exclusivos de la historia y el canal VIP. Se renueva cada 30 días; cancela cuando quieras.',
      stars: s.monthlyStars,
      days: 30,
    },
    {
      key: 'pass30',
      kind: 'pass',
      title: 'Pase VIP 30 días',
      description: 'Acceso VIP durante 30 días, un solo pago, sin renovación automática.',
      stars: s.passStars,
      days: 30,
    },
  ];
}

/**
 * Invoice payloads are signed so that the pre-checkout can be answered from the payload alone (no
 * query): `v1:<plan>:<price>:<nonce>:<mac>`. A tampered plan or price fails the signature; a price
 * changed since the invoice was issued fails the comparison with the current plan.
 */
export function invoiceKey(botToken: string): Buffer {
  return createHash('sha256').update(`dianabot-invoice:${botToken}`).digest();
}

function mac(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest('base64url').slice(0, 22);
}

export function signPayload(key: Buffer, plan: string, price: number, nonce: string): string {
  const body = `v1:${plan}:${price}:${nonce}`;
  return `${body}:${mac(key, body)}`;
}

export interface InvoicePayload {
  plan: string;
  price: number;
  nonce: string;
}

export function verifyPayload(key: Buffer, payload: string): InvoicePayload | null {
  const m = /^(v1:([a-z0-9]{1,16}):(\d{1,5}):([A-Za-z0-9_-]{1,32})):([A-Za-z0-9_-]{22})$/.exec(payload);
  if (!m) return null;
  const expected = Buffer.from(mac(key, m[1]!));
  const given = Buffer.from(m[5]!);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  return { plan: m[2]!, price: Number(m[3]), nonce: m[4]! };
}
