import { readFileSync } from 'node:fs';
import { Telegram } from 'telegraf';
import { afterAll, describe, expect, it } from 'vitest';
import { callApi, refundedPaymentSchema, subscriptionUpdateSchema, successfulPaymentSchema } from '../../lib/telegram/api.js';
import { BotApiStub } from '../support/bot-api-stub.js';

const stub = await new BotApiStub().start();
afterAll(() => stub.stop());
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/updates/${name}.json`, import.meta.url), 'utf8'));

describe('typed layer over the newer Bot API (@grammyjs/types through telegraf callApi)', () => {
  it('reads the Stars subscription fields of a real successful_payment', () => {
    const sp = successfulPaymentSchema.parse(fixture('message-successful-payment-stars-subscription').message.successful_payment);
    expect(sp).toMatchObject({ subscription_expiration_date: 1766592000, is_recurring: true, is_first_recurring: true, telegram_payment_charge_id: 'stxSubFirstChargeXyZ' });
    const oneOff = successfulPaymentSchema.parse(fixture('message-successful-payment-stars').message.successful_payment);
    expect(oneOff.is_recurring).toBeUndefined();
  });

  it('reads Update.subscription and Message.refunded_payment; refuses a state the API does not define', () => {
    const u = fixture('subscription-canceled').subscription;
    expect(subscriptionUpdateSchema.parse(u)).toMatchObject({ state: 'canceled', user: { id: 700000001 } });
    expect(() => subscriptionUpdateSchema.parse({ ...u, state: 'paused' })).toThrow();
    expect(refundedPaymentSchema.parse(fixture('message-refunded-payment').message.refunded_payment).telegram_payment_charge_id).toBe('stxAbCdEfGhIjKlMnOp');
    expect(() => successfulPaymentSchema.parse({ currency: 'XTR', total_amount: 1 })).toThrow();
  });

  it('sends methods telegraf does not type with their JSON parameters and returns the result', async () => {
    const telegram = new Telegram('1:x', { apiRoot: stub.url, webhookReply: false });
    await callApi(telegram, 'editUserStarSubscription', { user_id: 7, telegram_payment_charge_id: 'c1', is_canceled: true });
    await callApi(telegram, 'refundStarPayment', { user_id: 7, telegram_payment_charge_id: 'c1' });
    const link = await callApi(telegram, 'createInvoiceLink', {
      title: 'VIP', description: 'd', payload: 'p', currency: 'XTR', prices: [{ label: 'VIP', amount: 250 }], subscription_period: 2592000,
    });
    expect(link).toMatch(/^https:\/\/t\.me\/\$/);
    expect(stub.calls.map((c) => [c.method, c.payload])).toEqual([
      ['editUserStarSubscription', { user_id: 7, telegram_payment_charge_id: 'c1', is_canceled: true }],
      ['refundStarPayment', { user_id: 7, telegram_payment_charge_id: 'c1' }],
      ['createInvoiceLink', expect.objectContaining({ subscription_period: 2592000, currency: 'XTR' })],
    ]);
  });
});
