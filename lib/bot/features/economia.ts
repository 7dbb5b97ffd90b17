import { Composer } from 'telegraf';
import { runAdminCommand } from '../../admin/index.js';
import { AlreadyReversed, ReversalNotPossible, TransactionNotFound } from '../../besitos/errors.js';
import { economyDashboard, economyRollbackCommand, flagResolveCommand, openFlags, parseLocalMoment, userLabel, type RollbackParams } from '../../economy/index.js';
import { findUsersByIds } from '../../users/lookup.js';
import type { BotContext } from '../context.js';
import { escapeHtml } from '../html.js';
import { economyMessages as m } from '../messages-economy.js';
import { isAdmin } from './vip-admin.js';

/** /economia and /revertir (ADMIN_USER_IDS only): dashboard with chart, anomaly alerts, rollbacks. */
export const economiaFeature = new Composer<BotContext>();

async function labels(ctx: Pick<BotContext, 'deps'>, ids: number[]): Promise<(id: number) => string> {
  const users = await findUsersByIds(ctx.deps.db, ids);
  return (id) => userLabel(users.get(id), id);
}

economiaFeature.command('economia', async (ctx) => {
  if (!isAdmin(ctx)) return ctx.reply(ctx.t.forbidden());
  const [sub, arg] = ctx.message.text.trim().split(/\s+/).slice(1);
  const { db, clock, settings, log } = ctx.deps;
  if (sub === 'ayuda') return ctx.reply(m.usage);
  if (sub === 'alertas') {
    const { total, flags } = await openFlags(db, 20);
    return ctx.reply(m.flags(total, flags, await labels(ctx, flags.map((f) => f.userId))));
  }
  if (sub === 'cerrar') {
    const id = Number(arg);
    if (!Number.isSafeInteger(id) || id < 1) return ctx.reply(m.badFlagId);
    const r = await runAdminCommand(db, flagResolveCommand, ctx.state.user!.id, ctx.state.requestKey, { flagId: id, status: 'dismissed' }, clock());
    return ctx.reply(r.closed ? m.flagClosed(id) : m.flagNotOpen(id));
  }
  const days = sub === undefined ? 30 : Number(sub);
  if (!Number.isInteger(days) || days < 1 || days > 366) return ctx.reply(`${m.badDays}\n\n${m.usage}`);
  const d = await economyDashboard(db, { now: clock(), timeZone: settings.timeZone, days });
  await ctx.reply(m.summary(d));
  try {
    // The chart library (WebAssembly) loads here, on the first /economia of the instance only.
    const { dashboardPng } = await import('../../economy/chart.js');
    const png = await dashboardPng(d);
    await ctx.replyWithPhoto({ source: png, filename: 'economia.png' }, { caption: m.chartCaption(d) });
  } catch (err) {
    log.error({ msg: 'economy chart failed', error: String(err) });
    await ctx.reply(m.chartFailed);
  }
});

function parseRollback(args: string[], timeZone: string): RollbackParams | 'reason' | 'window' | null {
  const [first, ...rest] = args;
  if (!first) return null;
  if (/^#?\d{1,15}$/.test(first)) {
    const reason = rest.join(' ').trim();
    if (reason.length < 3) return 'reason';
    return { mode: 'transaction', transactionId: Number(first.replace('#', '')), reason };
  }
  if (!/^[a-z][a-z0-9_.:-]{0,63}$/.test(first) || rest.length < 2) return null;
  const from = parseLocalMoment(rest[0]!, timeZone);
  const to = parseLocalMoment(rest[1]!, timeZone, true);
  if (!from || !to || from >= to) return 'window';
  const reason = rest.slice(2).join(' ').trim();
  if (reason.length < 3) return 'reason';
  return { mode: 'window', source: first, from: from.toISOString(), to: to.toISOString(), reason: reason.slice(0, 300) };
}

economiaFeature.command('revertir', async (ctx) => {
  if (!isAdmin(ctx)) return ctx.reply(ctx.t.forbidden());
  const { db, clock, settings } = ctx.deps;
  const args = ctx.message.text.trim().split(/\s+/).slice(1);
  const p = parseRollback(args, settings.timeZone);
  if (p === null) return ctx.reply(m.usage);
  if (p === 'reason') return ctx.reply(m.reasonNeeded);
  if (p === 'window') return ctx.reply(m.badWindow);
  const what =
    p.mode === 'transaction'
      ? `movimiento #${p.transactionId}`
      : `«${escapeHtml(p.source)}» del ${escapeHtml(args[1]!)} al ${escapeHtml(args[2]!)}`;
  try {
    const r = await runAdminCommand(db, economyRollbackCommand, ctx.state.user!.id, ctx.state.requestKey, p, clock());
    return ctx.reply(m.rollbackDone(r, what, await labels(ctx, r.users.map((u) => u.userId))));
  } catch (err) {
    if (err instanceof TransactionNotFound && p.mode === 'transaction') return ctx.reply(m.txNotFound(p.transactionId));
    if (err instanceof ReversalNotPossible) return ctx.reply(m.notReversible);
    if (err instanceof AlreadyReversed) return ctx.reply(m.rollbackDone({ found: 1, rolledBack: 0, alreadyDone: 1, amount: 0, taken: 0, shortfall: 0, users: [], usersTotal: 0 }, what));
    throw err;
  }
});
