import { beforeEach, describe, expect, it } from 'vitest';
import { invoiceKey } from '../../lib/admin/index.js';
import { signPayload } from '../../lib/admin/plans.js';
import { eraseUser } from '../../lib/users/privacy.js';
import {
  callbackUpdate,
  preCheckoutUpdate,
  startTestApp,
  subscriptionUpdate,
  successfulPaymentUpdate,
  TEST_TOKEN,
  textUpdate,
} from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { buttonsOf } from '../support/users.js';

const ADMIN = uniqueTelegramId();
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN), VIP_MONTHLY_STARS: '250', VIP_PASS_STARS: '300' });
const { app, telegram, post } = t;
const key = invoiceKey(TEST_TOKEN);
const DAY = 86_400_000;

beforeEach(() => telegram.reset());

async function userRow(tg: number) {
  const [u] = await app.db<{ id: string; status: string }[]>`SELECT id, status FROM users WHERE telegram_id = ${tg}`;
  return u ? { id: Number(u.id), status: u.status } : null;
}
async function vipRow(tg: number) {
  const [v] = await app.db<{ id: string; status: string; plan: string; expires_at: Date; recurring: boolean; renewal_canceled: boolean; payment_failed_at: Date | null }[]>`
    SELECT s.* FROM vip_subscriptions s JOIN users u ON u.id = s.user_id WHERE u.telegram_id = ${tg}`;
  return v ?? null;
}
async function eventsOf(tg: number, type: string) {
  return app.db`SELECT o.event FROM outbox o JOIN users u ON u.id = o.user_id WHERE u.telegram_id = ${tg} AND o.type = ${type}`;
}
function answers() {
  return telegram.callsOf('answerPreCheckoutQuery').map((c) => c.payload as { ok: boolean; error_message?: string });
}

/** Presses a plan's button and returns the invoice payload Telegram got (sendInvoice or createInvoiceLink). */
async function invoiceFor(tg: number, plan: 'pass30' | 'monthly') {
  await post(callbackUpdate(tg, `vip:buy:${plan}`));
  const call = telegram.callsOf(plan === 'pass30' ? 'sendInvoice' : 'createInvoiceLink').at(-1)!;
  return call.payload;
}

describe('VIP in Telegram Stars through the webhook', () => {
  it('/vip shows both plans with prices and buttons; /paysupport and /terms answer in Spanish', async () => {
    const tg = uniqueTelegramId();
    await post(textUpdate(tg, '/vip'));
    const [call] = telegram.callsOf('sendMessage');
    expect(call!.payload.text).toContain('VIP mensual');
    expect(call!.payload.text).toContain('250 ⭐');
    expect(buttonsOf(call)).toEqual(expect.arrayContaining(['vip:buy:monthly', 'vip:buy:pass30']));
    await post(textUpdate(tg, '/paysupport'));
    await post(textUpdate(tg, '/terms'));
    const [, support, terms] = telegram.sentTexts(tg);
    expect(support).toContain('Soporte de pagos');
    expect(terms).toContain('Condiciones');
    expect(terms).toContain('reembolso');
  });

  it('full pass flow: invoice → pre-checkout ok → successful_payment delivered 3× → one subscription, one event, one confirmation', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'pass30');
    expect(invoice).toMatchObject({ chat_id: tg, currency: 'XTR', prices: [{ amount: 300 }] });
    expect(invoice.provider_token ?? '').toBe('');
    await post(preCheckoutUpdate(tg, invoice.payload, 300));
    expect(answers()).toEqual([expect.objectContaining({ ok: true })]);
    const pay = successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 300, chargeId: `ch-${tg}` });
    const replayedElsewhere = { ...pay, update_id: pay.update_id + 1_000_000 };
    const results = await Promise.all([post(pay), post(pay)]);
    await post(pay);
    await post(replayedElsewhere);
    expect(results.some((r) => r.status === 200)).toBe(true);
    const vip = await vipRow(tg);
    expect(vip).toMatchObject({ status: 'active', plan: 'pass30', recurring: false });
    expect(Math.round((vip!.expires_at.getTime() - Date.now()) / DAY)).toBe(30);
    expect(await eventsOf(tg, 'admin.subscription_started')).toHaveLength(1);
    expect(telegram.sentTexts(tg).filter((x) => x.includes('Ya eres VIP'))).toHaveLength(1);
    expect((await userRow(tg))!.status).toBe('vip');
    const payments = await app.db`SELECT * FROM vip_payments WHERE charge_id = ${`ch-${tg}`}`;
    expect(payments).toHaveLength(1);
    // /vip now shows the status, /perfil the VIP section
    telegram.reset();
    await post(textUpdate(tg, '/vip'));
    expect(telegram.sentTexts(tg)[0]).toContain('Eres VIP');
    await post(textUpdate(tg, '/perfil'));
    expect(telegram.sentTexts(tg)[1]).toContain('VIP');
  });

  it('a second charge of the same (forwarded) invoice extends from the current end', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'pass30');
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 300, chargeId: `a-${tg}` }));
    const first = (await vipRow(tg))!.expires_at.getTime();
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 300, chargeId: `b-${tg}` }));
    expect((await vipRow(tg))!.expires_at.getTime()).toBe(first + 30 * DAY);
    expect(await eventsOf(tg, 'admin.subscription_started')).toHaveLength(1);
    expect(telegram.sentTexts(tg).at(-1)).toContain('se amplió');
  });

  it('pre-checkout refuses a changed price, an unknown plan, a tampered payload, another currency and a banned user', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'pass30');
    const tampered = invoice.payload.replace(':300:', ':30:');
    await post(preCheckoutUpdate(tg, signPayload(key, 'pass30', 200, 'old'), 200)); // price changed since
    await post(preCheckoutUpdate(tg, signPayload(key, 'gold', 300, 'x'), 300)); // unknown plan
    await post(preCheckoutUpdate(tg, tampered, 30));
    await post(preCheckoutUpdate(tg, invoice.payload, 30)); // amount not the invoice's
    await post(preCheckoutUpdate(tg, invoice.payload, 300, { currency: 'USD' }));
    const a = answers();
    expect(a.map((x) => x.ok)).toEqual([false, false, false, false, false]);
    expect(a[0]!.error_message).toContain('precio cambió');
    expect(a[1]!.error_message).toContain('ya no existe');
    expect(a[2]!.error_message).toContain('no es válida');
    const banned = uniqueTelegramId();
    await post(textUpdate(banned, '/start'));
    await app.db`UPDATE users SET status = 'banned' WHERE telegram_id = ${banned}`;
    telegram.reset();
    await post(preCheckoutUpdate(banned, invoice.payload, 300));
    expect(answers()).toEqual([expect.objectContaining({ ok: false, error_message: expect.stringContaining('suspendida') })]);
  });

  it('a payment for a charge we never invoiced is recorded for admins, grants nothing, and the user is told', async () => {
    const tg = uniqueTelegramId();
    await post(successfulPaymentUpdate(tg, { payload: 'vip:30d', amount: 50, chargeId: `x-${tg}` }));
    expect(await vipRow(tg)).toBeNull();
    const [p] = await app.db`SELECT status, amount FROM vip_payments WHERE charge_id = ${`x-${tg}`}`;
    expect(p).toMatchObject({ status: 'unmatched', amount: 50 });
    expect(telegram.sentTexts(tg)[0]).toContain('no corresponde');
    expect((await userRow(tg))!.status).toBe('free');
  });

  it('monthly subscription: createInvoiceLink with subscription_period, a recurring renewal extends, cancel keeps access', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'monthly');
    expect(invoice).toMatchObject({ currency: 'XTR', subscription_period: 2592000, prices: [{ amount: 250 }] });
    const link = telegram.callsOf('sendMessage').at(-1)!.payload.reply_markup;
    expect(JSON.stringify(link)).toMatch(/"url":"https:\/\/t\.me\/\$inv\d+"/);
    const end1 = Math.floor(Date.now() / 1000) + 30 * 86_400;
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 250, chargeId: `m1-${tg}`, expiration: end1, recurring: true, firstRecurring: true }));
    let vip = await vipRow(tg);
    expect(vip).toMatchObject({ status: 'active', plan: 'monthly', recurring: true });
    expect(vip!.expires_at.getTime()).toBe(end1 * 1000);
    const [first] = await app.db`SELECT is_recurring, is_first_recurring, subscription_expiration_date FROM vip_payments WHERE charge_id = ${`m1-${tg}`}`;
    expect(first).toMatchObject({ is_recurring: true, is_first_recurring: true });
    // Renewal 30 days later: a new charge, is_recurring without is_first_recurring.
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 250, chargeId: `m2-${tg}`, expiration: end1 + 30 * 86_400, recurring: true }));
    vip = await vipRow(tg);
    expect(vip!.expires_at.getTime()).toBe((end1 + 30 * 86_400) * 1000);
    expect(await eventsOf(tg, 'admin.subscription_started')).toHaveLength(1);
    // The user cancels renewal from /vip: editUserStarSubscription with the subscription's charge.
    telegram.reset();
    await post(textUpdate(tg, '/vip'));
    expect(buttonsOf(telegram.callsOf('sendMessage')[0])).toContain('vip:renew:off');
    await post(callbackUpdate(tg, 'vip:renew:off'));
    expect(telegram.callsOf('editUserStarSubscription')[0]!.payload).toMatchObject({ user_id: tg, telegram_payment_charge_id: `m2-${tg}`, is_canceled: true });
    expect(await vipRow(tg)).toMatchObject({ status: 'active', renewal_canceled: true });
    expect(telegram.sentTexts(tg).at(-1)).toContain('no se renovará');
  });

  it('Update.subscription: canceled and failed keep the record true and tell the user', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'monthly');
    const end = Math.floor(Date.now() / 1000) + 30 * 86_400;
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 250, chargeId: `s1-${tg}`, expiration: end, recurring: true, firstRecurring: true }));
    telegram.reset();
    await post(subscriptionUpdate(tg, invoice.payload, 'canceled'));
    expect(await vipRow(tg)).toMatchObject({ renewal_canceled: true, status: 'active' });
    await post(subscriptionUpdate(tg, invoice.payload, 'active'));
    expect(await vipRow(tg)).toMatchObject({ renewal_canceled: false });
    await post(subscriptionUpdate(tg, invoice.payload, 'failed'));
    expect((await vipRow(tg))!.payment_failed_at).not.toBeNull();
    const texts = telegram.sentTexts(tg);
    expect(texts).toHaveLength(3);
    expect(texts[2]).toContain('No se pudo cobrar');
  });

  it('admins refund (refundStarPayment, access ends), grant and revoke with a reason, each in the audit trail; others are refused', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'pass30');
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 300, chargeId: `r-${tg}` }));
    await post(textUpdate(tg, `/vip_admin reembolsar r-${tg} me lo pidió`));
    expect(telegram.callsOf('refundStarPayment')).toHaveLength(0);
    expect(telegram.sentTexts(tg).at(-1)).toContain('solo para administradores');
    await post(textUpdate(ADMIN, `/vip_admin reembolsar r-${tg} pidió reembolso`));
    expect(telegram.callsOf('refundStarPayment')[0]!.payload).toMatchObject({ user_id: tg, telegram_payment_charge_id: `r-${tg}` });
    expect(await vipRow(tg)).toMatchObject({ status: 'refunded' });
    expect((await userRow(tg))!.status).toBe('free');
    expect(await eventsOf(tg, 'admin.subscription_expired')).toHaveLength(1);
    await post(textUpdate(ADMIN, `/vip_admin dar ${tg} 7 sorteo del canal`));
    let vip = await vipRow(tg);
    expect(vip).toMatchObject({ status: 'active', plan: 'manual' });
    expect(Math.round((vip!.expires_at.getTime() - Date.now()) / DAY)).toBe(7);
    await post(textUpdate(ADMIN, `/vip_admin dar ${tg} 7`));
    expect(telegram.sentTexts(ADMIN).at(-1)).toContain('motivo');
    await post(textUpdate(ADMIN, `/vip_admin quitar ${tg} abuso`));
    vip = await vipRow(tg);
    expect(vip).toMatchObject({ status: 'revoked' });
    const admin = (await userRow(ADMIN))!;
    const audit = await app.db<{ name: string; params: { reason: string } }[]>`SELECT name, params FROM actions WHERE user_id = ${admin.id} ORDER BY id`;
    expect(audit.map((a) => a.name)).toEqual(['admin.vip_refund', 'admin.vip_grant', 'admin.vip_revoke']);
    expect(audit.map((a) => a.params.reason)).toEqual(['pidió reembolso', 'sorteo del canal', 'abuso']);
  });

  it('/borrar of a paying user ends VIP and keeps the charge (id, amount, date) unlinked from the person', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'pass30');
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 300, chargeId: `e-${tg}` }));
    const u = (await userRow(tg))!;
    await eraseUser(app.db, app.kv, { userId: u.id, telegramId: tg });
    const [p] = await app.db`SELECT p.amount, p.paid_at, p.status, u.telegram_id, u.first_name FROM vip_payments p JOIN users u ON u.id = p.user_id WHERE p.charge_id = ${`e-${tg}`}`;
    expect(p).toMatchObject({ amount: 300, status: 'credited', telegram_id: null, first_name: null });
    const [s] = await app.db`SELECT status FROM vip_subscriptions WHERE user_id = ${u.id}`;
    expect(s).toMatchObject({ status: 'revoked' });
  });

  it('/borrar of a monthly subscriber cancels the renewal with Telegram (no charges for an erased account)', async () => {
    const tg = uniqueTelegramId();
    const invoice = await invoiceFor(tg, 'monthly');
    const end = Math.floor(Date.now() / 1000) + 30 * 86_400;
    await post(successfulPaymentUpdate(tg, { payload: invoice.payload, amount: 250, chargeId: `eb-${tg}`, expiration: end, recurring: true, firstRecurring: true }));
    const u = (await userRow(tg))!;
    await eraseUser(app.db, app.kv, { userId: u.id, telegramId: tg });
    await Promise.all([app.scheduler.sweep(), app.scheduler.sweep()]);
    expect(telegram.callsOf('editUserStarSubscription').map((c) => c.payload)).toEqual([{ user_id: tg, telegram_payment_charge_id: `eb-${tg}`, is_canceled: true }]);
    // The job needed the Telegram id the erased row no longer has: once it ran, its row keeps none (issue 16).
    const jobs = await app.db<{ state: string; payload: unknown }[]>`SELECT state, payload FROM scheduled_jobs WHERE kind = 'vip.erased'`;
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.filter((j) => JSON.stringify(j.payload).includes(String(tg)))).toEqual([]);
  });
});
