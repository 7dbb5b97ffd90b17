import { Composer, Markup } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { runAdminCommand } from '../../admin/index.js';
import { AlreadyReversed, ReversalNotPossible, TransactionNotFound } from '../../besitos/errors.js';
import { previewSourceWindow, previewTransactionRollback, type MovementPreview } from '../../besitos/rollback.js';
import { sessionField, sessionKey } from '../../users/session.js';
import { cb, deadlinePart, doneKeyboard, keyboardSlot, latePress, openKeyboard, parseDeadline, whyInactive } from '../keyboard.js';
import { economyDashboard, economyRollbackCommand, rollbackParams, flagResolveCommand, openFlags, parseLocalMoment, userLabel, type RollbackParams, type RollbackResult } from '../../economy/index.js';
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
  if (p.mode === 'window') return previewWindow(ctx, p, what);
  return previewMovement(ctx, p, what);
});

const alreadyDone = (what: string) => m.rollbackDone({ found: 1, rolledBack: 0, alreadyDone: 1, amount: 0, taken: 0, shortfall: 0, users: [], usersTotal: 0 }, what);

// ── A rollback (a window or one movement): preview, then Sí / Cancelar ────────────────────────────

type WindowParams = Extract<RollbackParams, { mode: 'window' }>;
type MovementParams = Extract<RollbackParams, { mode: 'transaction' }>;
/** The admin's pending rollback, in their own session (so only they can confirm it), for ROLLBACK_MINUTES. */
const ROLLBACK_MINUTES = 5;
const rollbackFlow = sessionField(
  'rollback',
  lazy(() => z.object({ nonce: z.number().int(), what: z.string(), params: rollbackParams })),
  ROLLBACK_MINUTES * 60,
);
const ROLLBACK_SLOT = keyboardSlot('rollback', 3600);
/** The command's key: both taps of a double tap (or a redelivery) run the same rollback once. */
const rollbackKey = (adminId: number, nonce: number) => `economy:rollback:${adminId}:${nonce}`;

type CommandCtx = Parameters<typeof openKeyboard>[0] & Pick<BotContext, 'sessions' | 'update'> & { state: Pick<BotContext['state'], 'userState'> };

async function previewWindow(ctx: CommandCtx, p: WindowParams, what: string) {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return;
  const preview = await previewSourceWindow(ctx.deps.db, { source: p.source, from: new Date(p.from), to: new Date(p.to) });
  // Nothing to do: said at once, no buttons.
  if (preview.rolledBack === 0) return ctx.reply(m.rollbackDone({ ...preview, usersTotal: 0 }, what));
  const text = m.rollbackPreview(preview, what, p.reason, ROLLBACK_MINUTES, await labels(ctx, preview.users.filter((u) => u.shortfall > 0).slice(0, 10).map((u) => u.userId)));
  await offerRollback(ctx, p, what, text);
}

/** Keeps the asked rollback in the admin's session and shows the preview with Sí / Cancelar (the update's id is the nonce). */
async function offerRollback(ctx: CommandCtx, p: RollbackParams, what: string, text: string) {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return;
  const nonce = ctx.update.update_id;
  const expiresAt = new Date(ctx.deps.clock().getTime() + ROLLBACK_MINUTES * 60_000);
  await ctx.sessions.set(sessionKey(me, ctx.chat.id), rollbackFlow, { nonce, what, params: p });
  const until = deadlinePart(expiresAt);
  await openKeyboard(ctx, ROLLBACK_SLOT, nonce, text, [[Markup.button.callback(m.rollbackYes, cb('rvy', nonce, until)), Markup.button.callback(m.rollbackNo, cb('rvn', nonce, until))]], { expiresAt });
}

/** One movement: who, how much, what cannot be taken back; a movement already reversed or one that cannot be now gets no buttons. */
async function previewMovement(ctx: CommandCtx, p: MovementParams, what: string) {
  let preview: MovementPreview;
  try {
    preview = await previewTransactionRollback(ctx.deps.db, p.transactionId);
  } catch (err) {
    if (err instanceof TransactionNotFound) return ctx.reply(m.txNotFound(p.transactionId));
    if (err instanceof ReversalNotPossible) return ctx.reply(m.notReversible);
    throw err;
  }
  if (preview.alreadyDone) return ctx.reply(alreadyDone(what));
  const label = await labels(ctx, preview.legs.map((l) => l.userId));
  if (preview.refused) return ctx.reply(m.movementPreview(preview, p.reason, ROLLBACK_MINUTES, label));
  await offerRollback(ctx, p, what, m.movementPreview(preview, p.reason, ROLLBACK_MINUTES, label));
}

economiaFeature.action(/^rv([yn]):(\d{1,15}):([0-9a-z]{1,8})$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return ctx.answerCbQuery();
  if (!isAdmin(ctx)) return ctx.answerCbQuery(ctx.t.forbidden());
  const nonce = Number(ctx.match[2]);
  const skey = sessionKey(me, ctx.chat.id);
  const pending = await ctx.sessions.get(skey, rollbackFlow);
  if (!pending || pending.nonce !== nonce) {
    const deadline = parseDeadline(ctx.match[3]);
    return latePress(ctx, await whyInactive(ctx, ROLLBACK_SLOT, nonce, deadline), { deadline });
  }
  await ctx.answerCbQuery();
  if (ctx.match[1] === 'n') {
    await ctx.sessions.clear(skey, rollbackFlow).catch(() => null);
    await ctx.editMessageText(m.rollbackCancelled(pending.what), { parse_mode: 'HTML' }).catch(() => null);
    return void (await doneKeyboard(ctx, ROLLBACK_SLOT, nonce, 'cancelled'));
  }
  let text: string;
  try {
    const r = await runAdminCommand<RollbackParams, RollbackResult>(ctx.deps.db, economyRollbackCommand, me.id, rollbackKey(me.id, nonce), pending.params, ctx.deps.clock());
    text = m.rollbackDone(r, pending.what, await labels(ctx, r.users.map((u) => u.userId)));
  } catch (err) {
    // The balances moved since the preview (a gift's receiver spent it), or another admin reversed it first.
    if (err instanceof ReversalNotPossible || err instanceof TransactionNotFound) text = m.notReversible;
    else if (err instanceof AlreadyReversed) text = alreadyDone(pending.what);
    else throw err;
  }
  await ctx.sessions.clear(skey, rollbackFlow).catch(() => null);
  // A double tap: both presses get the one rollback's result; the second edit changes nothing.
  await ctx.editMessageText(text, { parse_mode: 'HTML' }).catch(() => null);
  await doneKeyboard(ctx, ROLLBACK_SLOT, nonce);
});
