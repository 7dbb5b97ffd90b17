import { Composer, Markup } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { AlreadyReversed, InsufficientFunds, ReversalNotPossible } from '../../besitos/errors.js';
import { MAX_AMOUNT } from '../../besitos/ledger.js';
import {
  ActionNotFound,
  findAction,
  NotUndoable,
  runCommand,
  undoAction,
  UndoWindowClosed,
  type ActionRecord,
} from '../../commands/index.js';
import { giftCommand, type GiftParams, type GiftResult } from '../../commands/gift.js';
import { displayName, findUserByTelegramId, findUserByUsername, findUsersByIds, type UserRef } from '../../users/lookup.js';
import { sessionField, sessionKey } from '../../users/session.js';
import type { BotContext } from '../context.js';
import { cb, closeKeyboardAt, deadlinePart, doneKeyboard, keyboardSlot, latePress, nameRef, openKeyboard, parseDeadline, whyInactive } from '../keyboard.js';
import { isTransientTelegramError } from '../telegram-retry.js';
import { countUndo, GIFT_MOVES_PER_WINDOW, giftMovesLeft, paceNotification, takeGiftMove } from '../gift-pacing.js';

/**
 * The pending confirmation of a gift: lives two minutes in the (chat, user) session. It holds ids
 * only, never the receiver's name (looked up when needed), so a receiver who erases their data
 * leaves nothing behind in others' sessions.
 */
const giftFlow = sessionField(
  'gift',
  lazy(() => z.object({
    nonce: z.number().int(),
    toUserId: z.number().int(),
    amount: z.number().int(),
    /** The update confirming it ("Sí"): from then on "Cancelar" can't cancel, only this update (or its redelivery) goes on. */
    confirmedBy: z.number().int().optional(),
  })),
  120,
);
/** The confirmation's keyboard: one live per (user, chat); a newer /regalar replaces it. */
const GIFT_SLOT = keyboardSlot('gift', 600);

const giftKey = (userId: number, nonce: number) => `gift:${userId}:${nonce}`;
const undoWindow = (ctx: Pick<BotContext, 'deps'>) => ctx.deps.settings.undoWindowSeconds ?? 60;

type Parsed = { amount: number; username: string | null } | { error: string };

/** `/regalar N`, `/regalar N @usuario` or `/regalar @usuario N`. */
function parseArgs(ctx: Pick<BotContext, 't' | 'chat'>, text: string): Parsed {
  const args = text.trim().split(/\s+/).slice(1);
  const username = args.find((a) => a.startsWith('@')) ?? null;
  const amountArg = args.find((a) => !a.startsWith('@'));
  if (amountArg === undefined) return { error: ctx.t.giftUsage(ctx.chat?.type !== 'private') };
  if (!/^[+-]?\d+$/.test(amountArg)) return { error: ctx.t.giftBadAmount() };
  const amount = Number(amountArg);
  if (!Number.isSafeInteger(amount) || amount <= 0) return { error: ctx.t.giftBadAmount() };
  if (amount > MAX_AMOUNT) return { error: ctx.t.giftTooMuch(MAX_AMOUNT) };
  return { amount, username };
}

export const regalarFeature = new Composer<BotContext>();

regalarFeature.command(['regalar', 'gift'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const parsed = parseArgs(ctx, ctx.message.text);
  if ('error' in parsed) return void (await ctx.reply(parsed.error, { parse_mode: 'HTML' }));
  // A gift/undo loop is told to slow down before it gets a confirmation to press.
  const wait = await giftMovesLeft(ctx.deps, ctx.state.person);
  if (wait !== null) return void (await ctx.reply(ctx.t.giftThrottled(wait, GIFT_MOVES_PER_WINDOW)));
  const reply = 'reply_to_message' in ctx.message ? ctx.message.reply_to_message : undefined;

  let to: UserRef | null = null;
  let refName: string;
  if (parsed.username) {
    refName = parsed.username;
    to = await findUserByUsername(ctx.deps.db, parsed.username);
  } else if (reply?.from) {
    if (reply.from.is_bot) return void (await ctx.reply(ctx.t.giftToBot()));
    if (reply.from.id === me.telegramId) return void (await ctx.reply(ctx.t.giftSelf()));
    refName = reply.from.first_name;
    to = await findUserByTelegramId(ctx.deps.db, reply.from.id);
  } else {
    return void (await ctx.reply(ctx.t.giftUsage(ctx.chat.type !== 'private'), { parse_mode: 'HTML' }));
  }
  if (!to || to.telegramId === null) return void (await ctx.reply(ctx.t.giftUnknownUser(refName)));
  if (to.id === me.id) return void (await ctx.reply(ctx.t.giftSelf()));
  if (me.besitos < parsed.amount) return void (await ctx.reply(ctx.t.giftNotEnough(parsed.amount, me.besitos)));

  const nonce = ctx.update.update_id;
  const toName = (displayName(to) ?? refName).slice(0, 80);
  await ctx.sessions.set(sessionKey(me, ctx.chat.id), giftFlow, { nonce, toUserId: to.id, amount: parsed.amount });
  // The deadline rides in the buttons, so a press after it says "caducó" even when the session is gone.
  const expiresAt = new Date(ctx.deps.clock().getTime() + giftFlow.ttlSeconds * 1000);
  const until = deadlinePart(expiresAt);
  await openKeyboard(
    ctx,
    GIFT_SLOT,
    nonce,
    ctx.t.giftConfirm(parsed.amount, toName),
    [[Markup.button.callback(ctx.t.giftConfirmYes(), cb('g', 'y', nonce, until)), Markup.button.callback(ctx.t.giftConfirmNo(), cb('g', 'n', nonce, until))]],
    { expiresAt, closeText: ctx.t.giftConfirm(parsed.amount, nameRef(to.id)) },
  );
});

regalarFeature.action(/^g:y:(\d{1,15})(?::([0-9a-z]{1,8}))?$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return ctx.answerCbQuery();
  const nonce = Number(ctx.match[1]);
  const key = giftKey(me.id, nonce);
  const skey = sessionKey(me, ctx.chat.id);
  // Take the confirmation (compare-and-set): a concurrent "Cancelar" either cancelled it first (then
  // nothing moves) or finds it taken and leaves the message alone, so the message ends as the ledger.
  const updateId = ctx.update.update_id;
  let pending: z.infer<typeof giftFlow.schema> | null = null;
  let confirming = false;
  await ctx.sessions.update(skey, giftFlow, (cur) => {
    pending = null;
    confirming = false;
    if (cur?.nonce !== nonce) return cur;
    if (cur.confirmedBy !== undefined && cur.confirmedBy !== updateId) return (confirming = true), cur;
    pending = cur;
    return { ...cur, confirmedBy: updateId };
  });
  if (confirming) return void (await ctx.answerCbQuery(ctx.t.giftInProgress()));
  const gift = pending as GiftParams | null; // assigned in the compare-and-set callback
  if (!gift) {
    // A redelivery or a second press after the gift went through, or a confirmation that expired.
    const done = await findAction(ctx.deps.db, key);
    if (done) return replayGift(ctx, me, done);
    const deadline = parseDeadline(ctx.match[2]);
    return latePress(ctx, await whyInactive(ctx, GIFT_SLOT, nonce, deadline), { deadline });
  }
  // This press executes the gift: over the loop budget it is refused, and the confirmation stays
  // open (the press is given back) so that it can be pressed again after the wait.
  const wait = await takeGiftMove(ctx.deps, ctx.state.person);
  if (wait !== null) {
    await ctx.sessions.update(skey, giftFlow, (cur) => (cur?.nonce === nonce && cur.confirmedBy === updateId ? { ...cur, confirmedBy: undefined } : cur));
    return void (await ctx.answerCbQuery(ctx.t.giftThrottled(wait, GIFT_MOVES_PER_WINDOW), { show_alert: true }));
  }
  let run;
  try {
    run = await runCommand<GiftParams, GiftResult>(ctx.deps.db, giftCommand(undoWindow(ctx)), {
      userId: me.id,
      idempotencyKey: key,
      params: { toUserId: gift.toUserId, amount: gift.amount },
      now: ctx.deps.clock(),
      isUserError: (err) => err instanceof InsufficientFunds,
    });
  } catch (err) {
    if (err instanceof InsufficientFunds) {
      await ctx.sessions.clear(skey, giftFlow).catch(() => null);
      await ctx.answerCbQuery();
      // The confirmation becomes the answer: its buttons go.
      await ctx.editMessageText(ctx.t.giftNotEnough(gift.amount, err.available ?? 0), { parse_mode: 'HTML' });
      return void (await doneKeyboard(ctx, GIFT_SLOT, nonce));
    }
    throw err;
  }
  await ctx.sessions.update(skey, giftFlow, (cur) => (cur?.nonce === nonce ? null : cur));
  if (run.replayed) return replayGift(ctx, me, run.action);
  // The money moved. From here a refusal of the Bot API (4xx: message deleted, query too old) changes
  // nothing about that: the update succeeds, the sender reads the truth (a new message if the edit
  // failed) and the receiver is told. A 5xx still propagates: the redelivery replays (replayGift).
  // Claimed before the edit: if the edit fails and the update is redelivered, the redelivery owns
  // the claim and sends the notification (replayGift).
  const notifies = await ownsNotification(ctx, run.action.id);
  await afterEffect(ctx, 'answerCbQuery', () => ctx.answerCbQuery());
  const result = run.result!;
  const undoUntil = run.action.undoUntil ?? new Date(ctx.deps.clock().getTime() + undoWindow(ctx) * 1000);
  const to = await receiver(ctx, gift.toUserId);
  const done = ctx.t.giftDone(gift.amount, to.name, result.senderBalance, undoUntil, ctx.deps.settings.timeZone);
  const undoButton = Markup.inlineKeyboard([Markup.button.callback(ctx.t.giftUndoButton(), cb('g', 'u', run.action.id, deadlinePart(undoUntil)))]);
  const edited = await afterEffect(ctx, 'editMessageText', () => ctx.editMessageText(done, { parse_mode: 'HTML', ...undoButton }));
  if (!edited) await afterEffect(ctx, 'reply', () => ctx.reply(done, { parse_mode: 'HTML', ...undoButton }));
  await doneKeyboard(ctx, GIFT_SLOT, nonce);
  if (edited) await closeUndoAt(ctx, run.action.id, undoUntil, ctx.t.giftDone(gift.amount, nameRef(to.id), result.senderBalance, null, ctx.deps.settings.timeZone));
  if (notifies) await notifyPaced(ctx, me.id, to, ctx.t.giftReceived(gift.amount, displayName(me) ?? ctx.t.someone()));
});

/**
 * A Bot API call after money moved: true when it went through; a refusal (4xx) is logged and
 * reported as false, never as the update's failure; transient errors (5xx, 429) propagate so that
 * Telegram redelivers and the replay finishes the job.
 */
async function afterEffect(ctx: Pick<BotContext, 'deps'>, what: string, call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (err) {
    if (isTransientTelegramError(err)) throw err;
    ctx.deps.log.warn({ msg: `gift: ${what} refused after the money moved`, error: String(err) });
    return false;
  }
}

type GiftCtx = Pick<BotContext, 'deps' | 't' | 'telegram' | 'answerCbQuery' | 'editMessageText' | 'chat' | 'from' | 'reply' | 'callbackQuery'> & {
  update: { update_id: number };
  state: object;
};

/**
 * "Sí" pressed for a gift that already went through: a redelivery of the confirming update (its
 * first delivery failed after the commit, e.g. editMessageText 5xx → 503) or another press of the
 * button. Nothing moves again; the message is edited as the first delivery would have (with
 * "Deshacer" while the window is open; an edit is idempotent, and a visible "Sí" button means the
 * first edit never landed), and the receiver is notified by the update that owns the notification
 * (ownsNotification): its redeliveries notify again (at least once), other presses don't (no spam).
 */
async function replayGift(ctx: GiftCtx, me: NonNullable<BotContext['state']['userState']>, action: ActionRecord): Promise<void> {
  const result = action.result as GiftResult | null;
  if (action.name !== 'gift' || action.userId !== me.id || action.status !== 'done' || !result) {
    // Undone meanwhile (the message already says so) or not a gift of this user: only the toast.
    return void (await bestEffort(ctx, 'answerCbQuery', () => ctx.answerCbQuery(ctx.t.giftAlreadyDone())));
  }
  const params = action.params as GiftParams;
  const notifies = await ownsNotification(ctx, action.id);
  // On a redelivery Telegram may refuse a second answer to the same query; the edit matters more.
  await bestEffort(ctx, 'answerCbQuery', () => ctx.answerCbQuery(ctx.t.giftAlreadyDone()));
  const to = await receiver(ctx, params.toUserId);
  const toName = to.name;
  const open = action.undoUntil && action.undoUntil.getTime() > ctx.deps.clock().getTime() ? action.undoUntil : null;
  const tz = ctx.deps.settings.timeZone;
  await bestEffort(ctx, 'editMessageText', () =>
    open
      ? ctx.editMessageText(ctx.t.giftDone(params.amount, toName, result.senderBalance, open, tz), {
          parse_mode: 'HTML',
          ...Markup.inlineKeyboard([Markup.button.callback(ctx.t.giftUndoButton(), cb('g', 'u', action.id, deadlinePart(open)))]),
        })
      : // Window closed: no button, and no sentence offering the undo.
        ctx.editMessageText(ctx.t.giftDone(params.amount, toName, result.senderBalance, null, tz), { parse_mode: 'HTML' }),
  );
  if (open) await closeUndoAt(ctx, action.id, open, ctx.t.giftDone(params.amount, nameRef(to.id), result.senderBalance, null, tz));
  if (notifies) await notifyPaced(ctx, me.id, to, ctx.t.giftReceived(params.amount, displayName(me) ?? ctx.t.someone()));
}

/** When the undo window ends, the message loses its "Deshacer" button and the sentence offering it (unless undone). */
async function closeUndoAt(ctx: Pick<GiftCtx, 'deps' | 'callbackQuery' | 'from'> & { state: object }, actionId: number, at: Date, text: string): Promise<void> {
  const m = ctx.callbackQuery?.message;
  if (m) await closeKeyboardAt(ctx, { chatId: m.chat.id, messageId: m.message_id, at, text, actionId });
}

/**
 * Which update notifies the receiver of gift `actionId`: the first to claim it after the commit
 * (normally the confirming update), remembered with its update_id so that its redeliveries notify
 * again (at least once) while other presses of the button, even concurrent ones, don't. A lost key
 * only means one more notification.
 */
async function ownsNotification(ctx: Pick<GiftCtx, 'deps' | 'update'>, actionId: number): Promise<boolean> {
  const key = `gift:notify:${actionId}`;
  const mine = String(ctx.update.update_id);
  if (await ctx.deps.kv.set(key, mine, { ttlSeconds: 86_400, onlyIfAbsent: true })) return true;
  return (await ctx.deps.kv.get(key)) === mine;
}

/** Transient Bot API failures propagate (the update is redelivered); others (e.g. an expired callback query) are logged. */
async function bestEffort(ctx: Pick<GiftCtx, 'deps'>, what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    if (isTransientTelegramError(err)) throw err;
    ctx.deps.log.info({ msg: `gift replay: ${what} refused`, error: String(err) });
  }
}

regalarFeature.action(/^g:n:(\d{1,15})(?::([0-9a-z]{1,8}))?$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return ctx.answerCbQuery();
  const nonce = Number(ctx.match[1]);
  let cancelled = false;
  let confirming = false;
  await ctx.sessions.update(sessionKey(me, ctx.chat.id), giftFlow, (cur) => {
    confirming = cur?.nonce === nonce && cur.confirmedBy !== undefined;
    cancelled = cur?.nonce === nonce && !confirming;
    return cancelled ? null : cur;
  });
  // "Sí" was pressed first and the gift is on its way: the message will say so; don't call it cancelled.
  if (confirming) return void (await ctx.answerCbQuery(ctx.t.giftInProgress()));
  if (!cancelled) {
    // Nothing pending under this confirmation: say what happened to it instead of "cancelado".
    if (await findAction(ctx.deps.db, giftKey(me.id, nonce))) return latePress(ctx, 'done', { keepButtons: true });
    const deadline = parseDeadline(ctx.match[2]);
    return latePress(ctx, await whyInactive(ctx, GIFT_SLOT, nonce, deadline), { deadline });
  }
  await ctx.answerCbQuery();
  await ctx.editMessageText(ctx.t.giftCancelled());
  await doneKeyboard(ctx, GIFT_SLOT, nonce, 'cancelled');
});

regalarFeature.action(/^g:u:(\d{1,15})(?::([0-9a-z]{1,8}))?$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  giftCommand(undoWindow(ctx)); // registers the inverse
  let undone;
  try {
    undone = await undoAction<GiftResult>(ctx.deps.db, Number(ctx.match[1]), me.id, ctx.deps.clock());
  } catch (err) {
    if (err instanceof ActionNotFound || err instanceof NotUndoable) return latePress(ctx, 'notYours', { keepButtons: true });
    // The window closed: the message already names the time it ended; its button goes.
    if (err instanceof UndoWindowClosed) return latePress(ctx, 'undoClosed', { deadline: parseDeadline(ctx.match[2]) });
    const message = err instanceof ReversalNotPossible ? ctx.t.giftUndoSpent() : err instanceof AlreadyReversed ? ctx.t.giftAlreadyUndone() : null;
    if (message === null) throw err;
    return ctx.answerCbQuery(message, { show_alert: true });
  }
  if (undone.replayed) return ctx.answerCbQuery(ctx.t.giftAlreadyUndone());
  await countUndo(ctx.deps, ctx.state.person);
  const params = undone.original.params as GiftParams;
  // The money moved back: as after a gift, a refused answer or edit never reports failure.
  await afterEffect(ctx, 'answerCbQuery', () => ctx.answerCbQuery());
  const text = ctx.t.giftUndone(params.amount);
  if (!(await afterEffect(ctx, 'editMessageText', () => ctx.editMessageText(text)))) await afterEffect(ctx, 'reply', () => ctx.reply(text));
  await notifyPaced(ctx, me.id, await receiver(ctx, params.toUserId), ctx.t.giftUndoneReceiver(params.amount, displayName(me) ?? ctx.t.someone()));
});

/** The receiver as the gift's messages name them, and where to tell them (one lookup). */
async function receiver(ctx: Pick<BotContext, 'deps' | 't'>, userId: number): Promise<{ id: number; name: string; telegramId: number | null }> {
  const to = (await findUsersByIds(ctx.deps.db, [userId])).get(userId);
  return { id: userId, name: (displayName(to) ?? ctx.t.someone()).slice(0, 80), telegramId: to?.telegramId ?? null };
}

/**
 * Tells the receiver now, or — when this sender already told them something within the minute — leaves
 * it to the window's summary (lib/bot/gift-pacing.ts): one message per sender and minute.
 */
async function notifyPaced(ctx: Pick<BotContext, 'deps' | 'telegram'>, from: number, to: { id: number; telegramId: number | null }, text: string): Promise<void> {
  if (!to.telegramId) return;
  if (await paceNotification(ctx.deps, from, to.id)) await notify(ctx, to, text);
}

/** Tells the other user (in their private chat with the bot); they may never have opened one. */
async function notify(ctx: Pick<BotContext, 'deps' | 'telegram'>, to: { id: number; telegramId: number | null }, text: string): Promise<void> {
  if (!to.telegramId) return;
  await ctx.telegram.sendMessage(to.telegramId, text, { parse_mode: 'HTML' }).catch((err) => {
    ctx.deps.log.info({ msg: 'gift notification not delivered', to: to.id, error: String(err) });
  });
}
