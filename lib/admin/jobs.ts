import { TelegramError, type Telegram } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../lazy.js';
import { createEvent } from '../bus/events.js';
import { publish } from '../bus/outbox.js';
import type { Logger } from '../log.js';
import { cancel, jobHandlers, schedule, type JobHandler, type Tx } from '../scheduler/index.js';
import { callApi } from '../telegram/api.js';
import { vipChannelIds } from './channels.js';
import { endVip, onVipEnd, onVipPeriod, toVip, type VipRecord } from './repository.js';
import { accessEndsAt, daysLeft, isActive } from './rules.js';
import { DAY_MS } from './plans.js';
import { vipNotices } from './notices.js';

/**
 * Timed VIP work on lib/scheduler: reminders 3 days and 1 day before the end
 * (admin.subscription_expiring), expiry at the end (admin.subscription_expired, the user removed from
 * the VIP channels). Jobs are keyed by subscription and period end, written with the change that
 * causes them; every handler re-reads the record, so a job made stale by a renewal or a refund does
 * nothing, and a late run (a missed day) still does the right thing once.
 */

const REMINDER_DAYS = [3, 1] as const;
const reminderKey = (subId: number, end: Date, days: number) => `vip.reminder:${subId}:${end.getTime()}:${days}`;
const expireKey = (subId: number, end: Date) => `vip.expire:${subId}:${end.getTime()}`;

const periodPayload = lazy(() => z.object({ subscriptionId: z.number().int().positive(), expiresAt: z.iso.datetime() }));

async function lockedVip(tx: Tx, subscriptionId: number): Promise<(VipRecord & { telegramId: number | null }) | null> {
  const [row] = await tx`
    SELECT s.*, u.telegram_id FROM vip_subscriptions s JOIN users u ON u.id = s.user_id WHERE s.id = ${subscriptionId} FOR UPDATE OF s`;
  return row ? { ...toVip(row as never), telegramId: row.telegram_id === null ? null : Number(row.telegram_id) } : null;
}

async function tell(telegram: Telegram | undefined, log: Logger, telegramId: number | null, text: string): Promise<void> {
  if (!telegram || telegramId === null) return;
  try {
    await telegram.sendMessage(telegramId, text, { parse_mode: 'HTML' });
  } catch (err) {
    // Blocked the bot or deleted the account: nothing to tell, nothing to retry.
    if (err instanceof TelegramError && (err.code === 403 || err.code === 400)) log.info({ msg: 'vip notice not delivered', error: err.description });
    else throw err;
  }
}

/** Removes a user from every VIP channel so that they can come back after paying: ban, then unban. */
export async function removeFromVipChannels(
  tx: Tx,
  telegram: Telegram | undefined,
  log: Logger,
  userId: number,
  telegramId: number | null,
  only?: number[],
): Promise<void> {
  if (!telegram || telegramId === null) return;
  for (const chatId of only ?? (await vipChannelIds(tx))) {
    try {
      await callApi(telegram, 'banChatMember', { chat_id: chatId, user_id: telegramId, revoke_messages: false });
      await callApi(telegram, 'unbanChatMember', { chat_id: chatId, user_id: telegramId, only_if_banned: true });
    } catch (err) {
      // The bot was removed from the channel or lost its rights (403/400): log, never block the expiry.
      if (err instanceof TelegramError && (err.code === 403 || err.code === 400)) {
        log.warn({ msg: 'vip channel removal failed', chat_id: chatId, error: err.description });
        continue;
      }
      throw err;
    }
    await tx`
      UPDATE channel_members SET status = 'left', updated_at = now() WHERE chat_id = ${chatId} AND user_id = ${userId}`;
  }
}

export const vipReminderJob: JobHandler<z.output<typeof periodPayload> & { days: number }> = {
  kind: 'vip.reminder',
  payload: lazy(() => periodPayload.extend({ days: z.number().int().min(1).max(30) })),
  async run(tx, p, ctx) {
    const vip = await lockedVip(tx, p.subscriptionId);
    const end = new Date(p.expiresAt);
    // Renewed, refunded or already over (a very late run): a reminder would be wrong.
    if (!vip || vip.status !== 'active' || vip.expiresAt.getTime() !== end.getTime() || ctx.now >= end) return;
    if (vip.recurring && !vip.renewalCanceled && !vip.paymentFailed) return; // renews by itself
    const left = daysLeft(end, ctx.now);
    await publish(tx, createEvent('admin.subscription_expiring', { subscription_id: vip.id, expires_at: end.toISOString(), days_left: left }, vip.userId, ctx.now));
    await tell(ctx.telegram, ctx.log, vip.telegramId, vipNotices.expiring(left, end, ctx.timeZone));
  },
};

export const vipExpireJob: JobHandler<z.output<typeof periodPayload>> = {
  kind: 'vip.expire',
  payload: periodPayload,
  async run(tx, p, ctx) {
    const vip = await lockedVip(tx, p.subscriptionId);
    if (!vip || vip.status !== 'active') return; // already ended (refund, revocation, a previous run)
    if (vip.expiresAt.getTime() > new Date(p.expiresAt).getTime()) return; // renewed: the new period has its own job
    if (isActive(vip, ctx.now)) {
      // A renewing subscription in its grace period: look again when it ends.
      await schedule(tx, { kind: 'vip.expire', key: `${expireKey(vip.id, vip.expiresAt)}:grace`, dueAt: accessEndsAt(vip), payload: p });
      return;
    }
    await endVip(tx, vip.userId, 'expired', ctx.now);
    await removeFromVipChannels(tx, ctx.telegram, ctx.log, vip.userId, vip.telegramId);
    await tell(ctx.telegram, ctx.log, vip.telegramId, vipNotices.expired());
  },
};

/** Access ended before its time (refund, revocation, erasure): removal from the channels, at once. */
export const vipRemoveJob: JobHandler<{ subscriptionId: number }> = {
  kind: 'vip.remove',
  payload: lazy(() => z.object({ subscriptionId: z.number().int().positive() })),
  async run(tx, p, ctx) {
    const vip = await lockedVip(tx, p.subscriptionId);
    if (!vip || isActive(vip, ctx.now)) return; // access given back meanwhile
    await removeFromVipChannels(tx, ctx.telegram, ctx.log, vip.userId, vip.telegramId);
  },
};

/**
 * /borrar of a VIP: the renewal of a Stars subscription is cancelled (or Telegram would keep charging
 * an account that no longer exists) and the person leaves the VIP channels. The payload holds the
 * Telegram id the erased row no longer has, only until the job ran (personalPayload: blanked then).
 */
export const vipErasedJob: JobHandler<{ telegramId: number; chargeId: string | null }> = {
  kind: 'vip.erased',
  payload: lazy(() => z.object({ telegramId: z.number().int().positive(), chargeId: z.string().min(1).max(256).nullable() })),
  personalPayload: true,
  async run(tx, p, ctx) {
    if (!ctx.telegram) return;
    if (p.chargeId) {
      await callApi(ctx.telegram, 'editUserStarSubscription', { user_id: p.telegramId, telegram_payment_charge_id: p.chargeId, is_canceled: true }).catch((err) => {
        if (!(err instanceof TelegramError && err.code === 400)) throw err; // already cancelled or expired
      });
    }
    await removeFromVipChannels(tx, ctx.telegram, ctx.log, 0, p.telegramId);
  },
};

export const vipJobKinds = [vipReminderJob, vipExpireJob, vipRemoveJob, vipErasedJob] as JobHandler<any>[];
// Registered at import, so that any code path that changes a VIP period can schedule its jobs.
for (const kind of vipJobKinds) jobHandlers.ensure(kind);

async function cancelPeriod(tx: Tx, subId: number, end: Date): Promise<void> {
  for (const days of REMINDER_DAYS) await cancel(tx, reminderKey(subId, end, days));
  await cancel(tx, expireKey(subId, end));
}

onVipPeriod(async (tx, vip, now, previous) => {
  if (previous && previous.status === 'active' && previous.expiresAt.getTime() !== vip.expiresAt.getTime()) {
    await cancelPeriod(tx, vip.id, previous.expiresAt);
  }
  const payload = { subscriptionId: vip.id, expiresAt: vip.expiresAt.toISOString() };
  for (const days of REMINDER_DAYS) {
    const dueAt = new Date(vip.expiresAt.getTime() - days * DAY_MS);
    if (dueAt > now) await schedule(tx, { kind: 'vip.reminder', key: reminderKey(vip.id, vip.expiresAt, days), dueAt, payload: { ...payload, days } });
  }
  await schedule(tx, { kind: 'vip.expire', key: expireKey(vip.id, vip.expiresAt), dueAt: vip.expiresAt, payload });
});

onVipEnd(async (tx, vip, now, previous) => {
  if (previous) await cancelPeriod(tx, vip.id, previous.expiresAt);
  if (vip.status !== 'expired') {
    await schedule(tx, { kind: 'vip.remove', key: `vip.remove:${vip.id}:${now.getTime()}`, dueAt: now, payload: { subscriptionId: vip.id } });
  }
});
