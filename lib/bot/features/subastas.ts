import { Composer, Markup } from 'telegraf';
import type { InlineKeyboardButton } from 'telegraf/types';
import { InsufficientFunds } from '../../besitos/errors.js';
import { runCommand } from '../../commands/index.js';
import {
  AuctionRefused,
  bidCommand,
  cancelAuctionCommand,
  createAuctionCommand,
  isLive,
  nextMinimum,
  openAuctions,
  parseAmount,
  parseDuration,
  type Auction,
  type BidResult,
} from '../../gamification/auctions/index.js';
import '../../gamification/auctions/provider.js';
import { addDays, localDate, startOfLocalDay } from '../../time/zone.js';
import type { BotContext } from '../context.js';
import { cb } from '../keyboard.js';
import { auctionMessages as am } from '../messages-auctions.js';
import { catalogueFor } from './gamificacion.js';
import { isAdmin } from './vip-admin.js';

/**
 * /subastas (the open auctions, with bid buttons), /pujar N, and the admins' /subasta_nueva and
 * /subasta_cancelar. A bid is the command `auction.bid` keyed by the update (a redelivered press bids
 * once). Buttons carry the auction, the amount and the presser's internal id: a press by someone else
 * (a list shown in a group, a forged button) is turned away; an old button whose amount is no longer
 * enough is refused with the new minimum and the list is redrawn with fresh buttons.
 */
export const subastasFeature = new Composer<BotContext>();

const HTML = { parse_mode: 'HTML' as const };
type Ctx = Pick<BotContext, 'deps' | 'update'> & { state: { userState?: BotContext['state']['userState'] } };

function bidButtons(a: Auction, owner: number): InlineKeyboardButton[] {
  const min = nextMinimum(a);
  const amounts = [...new Set([min, min + 2 * a.increment, min + 5 * a.increment])];
  return amounts.map((amount) => Markup.button.callback(am.bidButton(amount), cb('sb', a.id, amount, owner)));
}

/** The list; `fresh` re-reads the balance (after a bid: the update's state was loaded before it). */
async function listView(ctx: Ctx, userId: number, fresh = false): Promise<{ text: string; buttons: InlineKeyboardButton[][] }> {
  const now = ctx.deps.clock();
  const tz = ctx.deps.settings.timeZone;
  const auctions = await openAuctions(ctx.deps.db, now);
  if (auctions.length === 0) return { text: am.none(), buttons: [] };
  const me = ctx.state.userState;
  const [bal] = fresh || !me ? await ctx.deps.db<{ besitos: number; held: number }[]>`SELECT besitos, held FROM user_balances WHERE user_id = ${userId}` : [me];
  const besitos = Number(bal?.besitos ?? 0);
  const held = Number(bal?.held ?? 0);
  const text = [am.listTitle(), ...auctions.map((a) => am.line(a, userId, tz, now)), am.listFooter(besitos - held, held)].join('\n\n');
  const buttons = auctions.filter((a) => isLive(a, now) && a.leaderId !== userId).map((a) => bidButtons(a, userId));
  return { text, buttons };
}

subastasFeature.command(['subastas', 'auctions'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const { text, buttons } = await listView(ctx, me.id);
  // In a group the list answers its asker, so that others' presses are told "no es tuyo".
  const replyTo = ctx.chat.type !== 'private' ? { reply_parameters: { message_id: ctx.message.message_id, allow_sending_without_reply: true } } : {};
  await ctx.reply(text, { ...HTML, reply_markup: { inline_keyboard: buttons }, ...replyTo });
});

type Outcome = { ok: true; result: BidResult } | { ok: false; text: string };

async function bid(ctx: Ctx, userId: number, auctionId: number, amount: number): Promise<Outcome> {
  try {
    const run = await runCommand(ctx.deps.db, bidCommand, {
      userId,
      idempotencyKey: `bid:${ctx.update.update_id}`,
      params: { auctionId, amount },
      now: ctx.deps.clock(),
      isUserError: (err) => err instanceof AuctionRefused || err instanceof InsufficientFunds,
    });
    return { ok: true, result: run.result as BidResult };
  } catch (err) {
    if (err instanceof AuctionRefused) return { ok: false, text: am.refused(err.reason as never, err.minimum) };
    if (err instanceof InsufficientFunds) return { ok: false, text: am.insufficient(amount, err.available) };
    throw err;
  }
}

subastasFeature.command(['pujar', 'bid'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const args = ctx.message.text.trim().split(/\s+/).slice(1);
  if (args.length === 0 || args.length > 2) return void (await ctx.reply(am.pujarUsage(), HTML));
  const amountText = args.at(-1)!;
  const amount = parseAmount(amountText);
  if (amount === null) return void (await ctx.reply(am.notANumber(amountText), HTML));
  let auctionId: number;
  if (args.length === 2) {
    const m = /^#?(\d{1,12})$/.exec(args[0]!);
    if (!m) return void (await ctx.reply(am.pujarUsage(), HTML));
    auctionId = Number(m[1]);
  } else {
    const live = (await openAuctions(ctx.deps.db, ctx.deps.clock())).filter((a) => isLive(a, ctx.deps.clock()));
    if (live.length === 0) return void (await ctx.reply(am.none(), HTML));
    if (live.length > 1) return void (await ctx.reply(am.whichAuction(), HTML));
    auctionId = live[0]!.id;
  }
  const r = await bid(ctx, me.id, auctionId, amount);
  await ctx.reply(r.ok ? am.bidPlaced(r.result, ctx.deps.settings.timeZone, ctx.deps.clock()) : r.text, HTML);
});

// sb:<auction>:<amount>:<owner's internal id>
subastasFeature.action(/^sb:(\d{1,12}):(\d{1,7}):(\d{1,15})$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  if (Number(ctx.match[3]) !== me.id) {
    return void (await ctx.answerCbQuery(ctx.t.keyboardEnded('notYours', undefined, ctx.deps.settings.timeZone, ctx.deps.clock()), { show_alert: true }));
  }
  const r = await bid(ctx, me.id, Number(ctx.match[1]), Number(ctx.match[2]));
  await ctx.answerCbQuery(r.ok ? am.bidToast(r.result) : r.text, { show_alert: !r.ok });
  // The list shows the new state (and fresh buttons: an old amount is never offered again).
  const { text, buttons } = await listView(ctx, me.id, true);
  await ctx.editMessageText(text, { ...HTML, reply_markup: { inline_keyboard: buttons } }).catch(() => undefined);
});

// ── Admins ───────────────────────────────────────────────────────────────────────────────────────

/** "18:30" (today, or tomorrow when past) or "2026-12-01 18:30", local time; null when not understood. */
function parseStart(parts: string[], tz: string, now: Date): Date | null {
  const text = parts.join(' ');
  let m = /^(\d{4}-\d{2}-\d{2})\s+(\d{1,2}):(\d{2})$/.exec(text);
  let day: string;
  if (m) day = m[1]!;
  else {
    m = /^()(\d{1,2}):(\d{2})$/.exec(text);
    if (!m) return null;
    day = localDate(now, tz);
  }
  const h = Number(m[2]);
  const min = Number(m[3]);
  if (h > 23 || min > 59) return null;
  const at = (d: string) => new Date(startOfLocalDay(d, tz).getTime() + (h * 60 + min) * 60_000);
  let start = at(day);
  if (m[1] === '' && start < now) start = at(addDays(day, 1));
  return Number.isNaN(start.getTime()) ? null : start;
}

subastasFeature.command('subasta_nueva', async (ctx) => {
  if (!isAdmin(ctx)) return void (await ctx.reply(ctx.t.forbidden()));
  const admin = ctx.state.user!;
  const tz = ctx.deps.settings.timeZone;
  const now = ctx.deps.clock();
  const [itemKey, minText, incText, durText, ...startParts] = ctx.message.text.trim().split(/\s+/).slice(1);
  if (!itemKey) return void (await ctx.reply(am.adminUsage(), HTML));
  const catalogue = await catalogueFor(ctx);
  const item = catalogue.items.get(itemKey);
  if (!item) return void (await ctx.reply(am.adminUnknownItem(itemKey, [...catalogue.items.keys()]), HTML));
  const minBid = parseAmount(minText);
  if (minBid === null) return void (await ctx.reply(am.adminBadNumber('mínima', minText), HTML));
  const increment = parseAmount(incText);
  if (increment === null) return void (await ctx.reply(am.adminBadNumber('incremento', incText), HTML));
  const duration = durText ? parseDuration(durText) : null;
  if (duration === null) return void (await ctx.reply(am.adminBadDuration(durText), HTML));
  const startsAt = startParts.length && startParts[0] !== 'ahora' ? parseStart(startParts, tz, now) : now;
  if (!startsAt) return void (await ctx.reply(am.adminBadStart(startParts.join(' ')), HTML));
  const endsAt = new Date(startsAt.getTime() + duration);
  try {
    const run = await runCommand(ctx.deps.db, createAuctionCommand, {
      userId: admin.id,
      idempotencyKey: `auction.create:${ctx.update.update_id}`,
      params: { itemKey, itemName: item.name, minBid, increment, startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString() },
      now,
    });
    const r = run.result as { auctionId: number };
    await ctx.reply(am.adminCreated(r.auctionId, item.name, minBid, increment, startsAt, endsAt, tz, now), HTML);
  } catch (err) {
    if (err instanceof AuctionRefused) return void (await ctx.reply(am.adminRefused(err.reason as never), HTML));
    throw err;
  }
});

subastasFeature.command('subasta_cancelar', async (ctx) => {
  if (!isAdmin(ctx)) return void (await ctx.reply(ctx.t.forbidden()));
  const m = /^#?(\d{1,12})$/.exec(ctx.message.text.trim().split(/\s+/)[1] ?? '');
  if (!m) return void (await ctx.reply(am.adminCancelUsage(), HTML));
  try {
    const run = await runCommand(ctx.deps.db, cancelAuctionCommand, {
      userId: ctx.state.user!.id,
      idempotencyKey: `auction.cancel:${ctx.update.update_id}`,
      params: { auctionId: Number(m[1]) },
      now: ctx.deps.clock(),
    });
    await ctx.reply(am.adminCancelled(Number(m[1]), (run.result as { itemName: string }).itemName), HTML);
  } catch (err) {
    if (err instanceof AuctionRefused) return void (await ctx.reply(am.refused(err.reason as never, 0), HTML));
    throw err;
  }
});
