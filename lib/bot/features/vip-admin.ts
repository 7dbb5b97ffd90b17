import { Composer } from 'telegraf';
import { TelegramError } from 'telegraf';
import {
  findVip,
  refundCharge,
  runAdminCommand,
  UnknownCharge,
  vipGrantCommand,
  vipRevokeCommand,
} from '../../admin/index.js';
import { recentPayments } from '../../admin/repository.js';
import { displayName, findUserByTelegramId, findUserByUsername, findUsersByIds, type UserRef } from '../../users/lookup.js';
import type { BotContext } from '../context.js';
import { vipMessages as m } from '../messages-vip.js';

const HTML = { parse_mode: 'HTML' as const };

export function isAdmin(ctx: Pick<BotContext, 'from' | 'deps'>): boolean {
  return Boolean(ctx.from && ctx.deps.settings.adminTelegramIds.includes(ctx.from.id));
}

/** A user by Telegram id (digits), internal id (#123) or @username. */
export async function resolveUser(ctx: Pick<BotContext, 'deps'>, ref: string): Promise<UserRef | null> {
  if (/^\d{1,15}$/.test(ref)) return findUserByTelegramId(ctx.deps.db, Number(ref));
  if (/^#\d{1,15}$/.test(ref)) return (await findUsersByIds(ctx.deps.db, [Number(ref.slice(1))])).get(Number(ref.slice(1))) ?? null;
  if (/^@\w{1,64}$/.test(ref)) return findUserByUsername(ctx.deps.db, ref);
  return null;
}

const label = (u: UserRef) => (u.username ? `@${u.username}` : (displayName(u) ?? `#${u.id}`));

/** /vip_admin estado|dar|quitar|reembolsar (ADMIN_USER_IDS only); every change is the admin's command in the audit trail. */
export const vipAdminFeature = new Composer<BotContext>();

vipAdminFeature.command('vip_admin', async (ctx) => {
  if (!isAdmin(ctx)) return ctx.reply(ctx.t.forbidden());
  const admin = ctx.state.user!;
  const [sub, ref, ...rest] = ctx.message.text.trim().split(/\s+/).slice(1);
  const { db, clock, settings } = ctx.deps;
  const tz = settings.timeZone;
  const now = clock();
  if (sub === 'reembolsar' && ref) {
    const reason = rest.join(' ');
    if (reason.trim().length < 3) return ctx.reply(m.adminReasonNeeded);
    try {
      const r = await refundCharge(db, ctx.telegram, admin.id, ref, reason, ctx.state.requestKey, now);
      await ctx.reply(m.adminRefunded(r.refunded));
      if (r.refunded && r.targetTelegramId) await ctx.telegram.sendMessage(r.targetTelegramId, m.refundedToUser).catch(() => undefined);
    } catch (err) {
      if (err instanceof UnknownCharge) return ctx.reply(m.adminUnknownCharge);
      if (err instanceof TelegramError && err.code === 400) return ctx.reply(m.adminRefundFailed(err.description), HTML);
      throw err;
    }
    return;
  }
  if (!['estado', 'dar', 'quitar'].includes(sub ?? '') || !ref) return ctx.reply(m.adminUsage, HTML);
  const target = await resolveUser(ctx, ref);
  if (!target) return ctx.reply(m.adminUserNotFound(ref), HTML);
  if (sub === 'estado') {
    const [vip, payments] = await Promise.all([findVip(db, target.id), recentPayments(db, target.id, 10)]);
    return ctx.reply(m.adminStatus(label(target), vip, payments, tz), HTML);
  }
  if (sub === 'dar') {
    const days = Number(rest[0]);
    const reason = rest.slice(1).join(' ');
    if (!Number.isInteger(days) || days < 1 || days > 3660) return ctx.reply(m.adminUsage, HTML);
    if (reason.trim().length < 3) return ctx.reply(m.adminReasonNeeded);
    const r = await runAdminCommand(db, vipGrantCommand, admin.id, ctx.state.requestKey, { targetUserId: target.id, days, reason }, now);
    const until = new Date(r.expiresAt);
    await ctx.reply(m.adminGranted(label(target), until, tz), HTML);
    if (target.telegramId) await ctx.telegram.sendMessage(target.telegramId, m.grantedToUser(until, tz), HTML).catch(() => undefined);
    return;
  }
  const reason = rest.join(' ');
  if (reason.trim().length < 3) return ctx.reply(m.adminReasonNeeded);
  const r = await runAdminCommand(db, vipRevokeCommand, admin.id, ctx.state.requestKey, { targetUserId: target.id, reason }, now);
  await ctx.reply(m.adminRevoked(label(target), r.revoked), HTML);
  if (r.revoked && target.telegramId) await ctx.telegram.sendMessage(target.telegramId, m.revokedToUser).catch(() => undefined);
});
