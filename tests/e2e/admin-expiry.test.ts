import { beforeEach, describe, expect, it } from 'vitest';
import { callbackUpdate, nextUpdateId, startTestApp, subscriptionUpdate, successfulPaymentUpdate, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';

let now = Date.parse('2026-12-01T12:00:00Z');
const clock = () => new Date(now);
const ADMIN = uniqueTelegramId();
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN) }, { clock });
const { app, telegram, post } = t;
const DAY = 86_400_000;
const BOT = { id: 123456, is_bot: true, first_name: 'DianaBot', username: 'DianaTestBot' };
const CHANNEL = -1_008_000_000_000 - Math.floor(Math.random() * 1e6);

beforeEach(() => telegram.reset());

async function vipRow(tg: number) {
  const [v] = await app.db<{ id: string; status: string; expires_at: Date }[]>`
    SELECT s.* FROM vip_subscriptions s JOIN users u ON u.id = s.user_id WHERE u.telegram_id = ${tg}`;
  return v ?? null;
}
async function eventsOf(tg: number, type: string) {
  return app.db`SELECT o.event FROM outbox o JOIN users u ON u.id = o.user_id WHERE u.telegram_id = ${tg} AND o.type = ${type}`;
}
async function invoice(tg: number, plan: 'pass30' | 'monthly') {
  await post(callbackUpdate(tg, `vip:buy:${plan}`));
  return telegram.callsOf(plan === 'pass30' ? 'sendInvoice' : 'createInvoiceLink').at(-1)!.payload.payload as string;
}
const drain = () => drainJobs(app, () => (now += 61_000));
const sentTo = (tg: number) => telegram.sentTexts(tg);
const callsFor = (method: string, tg: number) => telegram.callsOf(method).filter((c) => c.payload.user_id === tg);

describe('VIP expiry on the scheduler (moved clock)', () => {
  it('setup: a VIP channel the bot administers', async () => {
    await post({
      update_id: nextUpdateId(),
      my_chat_member: {
        chat: { id: CHANNEL, title: 'Diana VIP', type: 'channel' },
        from: { id: ADMIN, is_bot: false, first_name: 'Admin' },
        date: 0,
        old_chat_member: { user: BOT, status: 'left' },
        new_chat_member: { user: BOT, status: 'creator', is_anonymous: false },
      },
    });
    await post(callbackUpdate(ADMIN, `ch:kind:${CHANNEL}:vip`));
    expect(await app.db`SELECT 1 FROM channels WHERE chat_id = ${CHANNEL} AND kind = 'vip'`).toHaveLength(1);
  });

  it('reminds 3 days and 1 day before, once each; expires a day late exactly once (two sweeps racing), removes from the channel', async () => {
    const tg = uniqueTelegramId();
    const payload = await invoice(tg, 'pass30');
    await post(successfulPaymentUpdate(tg, { payload, amount: 300, chargeId: `p-${tg}` }));
    const start = now;
    telegram.reset();
    now = start + 27 * DAY + 60_000;
    await app.scheduler.sweep();
    await app.scheduler.sweep();
    expect(sentTo(tg)).toEqual([expect.stringContaining('en <b>3 días</b>')]);
    now = start + 29 * DAY + 60_000;
    await app.scheduler.sweep();
    expect(sentTo(tg)).toHaveLength(2);
    expect(sentTo(tg)[1]).toContain('mañana');
    expect(await eventsOf(tg, 'admin.subscription_expiring')).toHaveLength(2);
    // The cron missed a whole day: caught up once, two runners at the same time.
    now = start + 31 * DAY;
    await Promise.all([app.scheduler.sweep(), app.scheduler.sweep()]);
    await app.scheduler.sweep();
    expect(await vipRow(tg)).toMatchObject({ status: 'expired' });
    const [u] = await app.db`SELECT status FROM users WHERE telegram_id = ${tg}`;
    expect(u!.status).toBe('free');
    expect(await eventsOf(tg, 'admin.subscription_expired')).toHaveLength(1);
    expect(callsFor('banChatMember', tg).map((c) => c.payload.chat_id)).toEqual([CHANNEL]);
    expect(callsFor('unbanChatMember', tg).map((c) => c.payload.chat_id)).toEqual([CHANNEL]);
    expect(sentTo(tg).filter((x) => x.includes('terminó'))).toHaveLength(1);
    // After paying again access starts anew (and the user may come back: unbanned).
    const again = await invoice(tg, 'pass30');
    await post(successfulPaymentUpdate(tg, { payload: again, amount: 300, chargeId: `p2-${tg}` }));
    expect(await vipRow(tg)).toMatchObject({ status: 'active' });
    expect(await eventsOf(tg, 'admin.subscription_started')).toHaveLength(2);
  });

  it('a renewal before expiry extends from the current end and cancels the pending expiry', async () => {
    const tg = uniqueTelegramId();
    const payload = await invoice(tg, 'monthly');
    const end1 = Math.floor(now / 1000) + 30 * 86_400;
    await post(successfulPaymentUpdate(tg, { payload, amount: 250, chargeId: `m1-${tg}`, expiration: end1, recurring: true, firstRecurring: true }));
    const sub = Number((await vipRow(tg))!.id);
    await post(successfulPaymentUpdate(tg, { payload, amount: 250, chargeId: `m2-${tg}`, expiration: end1 + 30 * 86_400, recurring: true }));
    const jobs = await app.db<{ key: string; state: string }[]>`SELECT key, state FROM scheduled_jobs WHERE key LIKE ${`vip.expire:${sub}:%`} ORDER BY id`;
    expect(jobs.map((j) => j.state)).toEqual(['cancelled', 'pending']);
    const start = now;
    now = end1 * 1000 + DAY; // past the first period (and its grace)
    await app.scheduler.sweep();
    expect(await vipRow(tg)).toMatchObject({ status: 'active' });
    expect(callsFor('banChatMember', tg)).toHaveLength(0);
    now = start;
  });

  it('a renewing subscription keeps access through the grace period; a failed renewal then expires at the end', async () => {
    const tg = uniqueTelegramId();
    const payload = await invoice(tg, 'monthly');
    const end = Math.floor(now / 1000) + 30 * 86_400;
    await post(successfulPaymentUpdate(tg, { payload, amount: 250, chargeId: `g-${tg}`, expiration: end, recurring: true, firstRecurring: true }));
    const start = now;
    now = end * 1000 + 60_000;
    await app.scheduler.sweep();
    expect(await vipRow(tg)).toMatchObject({ status: 'active' }); // the renewal may still arrive
    await post(subscriptionUpdate(tg, payload, 'failed'));
    now = end * 1000 + 7 * 3_600_000;
    await app.scheduler.sweep();
    expect(await vipRow(tg)).toMatchObject({ status: 'expired' });
    expect(await eventsOf(tg, 'admin.subscription_expired')).toHaveLength(1);
    now = start;
  });

  it('a refund by an admin ends access and removes the user from the VIP channel once', async () => {
    const tg = uniqueTelegramId();
    const payload = await invoice(tg, 'pass30');
    await post(successfulPaymentUpdate(tg, { payload, amount: 300, chargeId: `r-${tg}` }));
    await post(textUpdate(ADMIN, `/vip_admin reembolsar r-${tg} no le funcionó`));
    await Promise.all([app.scheduler.sweep(), app.scheduler.sweep()]);
    await drain();
    expect(callsFor('banChatMember', tg)).toHaveLength(1);
    expect(await vipRow(tg)).toMatchObject({ status: 'refunded' });
    // the pending reminders and expiry of that period are gone
    const pending = await app.db`SELECT key FROM scheduled_jobs WHERE key LIKE ${`vip.%:${(await vipRow(tg))!.id}:%`} AND state = 'pending'`;
    expect(pending).toHaveLength(0);
  });

  it('the bot removed from the channel (403): expiry still ends VIP, logs, and does not retry forever', async () => {
    const tg = uniqueTelegramId();
    await post(textUpdate(tg, '/start'));
    await post(textUpdate(ADMIN, `/vip_admin dar ${tg} 1 prueba 403`));
    telegram.reset();
    telegram.failNext('banChatMember', 1, 403, { description: 'Forbidden: bot is not a member of the channel chat' });
    const start = now;
    now += 2 * DAY;
    await drain();
    expect(await vipRow(tg)).toMatchObject({ status: 'expired' });
    expect(sentTo(tg).some((x) => x.includes('terminó'))).toBe(true);
    now = start;
  });
});
