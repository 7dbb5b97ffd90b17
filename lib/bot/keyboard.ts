import { z } from 'zod';
import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'telegraf/types';
import type { BotContext } from './context.js';
import { LIMITS } from './reply.js';
import { isTransientTelegramError } from './telegram-retry.js';

/**
 * The inline-keyboard lifecycle every feature follows (README "Convenciones de conversación").
 *
 * A keyboard lives as long as its moment: a confirmation until it is answered, replaced by a newer one
 * or expires; an undo button until its window closes. When the moment passes the bot removes the
 * keyboard or replaces the message (`done`, `supersede` on opening the next one), and a press that
 * arrives anyway (an old message, a second press, a button from before a restart) gets a short
 * callback notice saying what actually happened (`latePress`) — never a new chat message — and the
 * pressed message loses its buttons. "message is not modified" is never an error (lib/bot/reply.ts).
 *
 *   await openKeyboard(ctx, GIFT, nonce, text, [[yes, no]]);      // one live keyboard per slot
 *   … on a press whose nonce is not the pending one:
 *   return latePress(ctx, await whyInactive(ctx, GIFT, nonce, deadline), { deadline });
 *   … when the flow completes:        await ctx.editMessageText(result); await doneKeyboard(ctx, GIFT, nonce);
 */

/** Why a button no longer works; each has its short Spanish notice (messages.ts keyboardEnded). */
export type KeyboardEnd = 'done' | 'cancelled' | 'superseded' | 'expired' | 'undoClosed' | 'inactive' | 'notYours';

/** A flow's keyboard: at most one live per (user, chat); opening a new one closes the previous. */
export interface KeyboardSlot {
  name: string;
  /** How long the registry remembers the message (at least the flow's own time limit). */
  ttlSeconds: number;
}

export function keyboardSlot(name: string, ttlSeconds: number): KeyboardSlot {
  if (!/^[a-z][a-z0-9_]{0,20}$/.test(name)) throw new Error(`bad keyboard slot ${name}`);
  return { name, ttlSeconds };
}

/** callback_data from parts joined by ":", refused beyond Telegram's 64 bytes. */
export function cb(...parts: (string | number)[]): string {
  const data = parts.join(':');
  if (Buffer.byteLength(data) > LIMITS.callbackData) throw new Error(`callback_data over ${LIMITS.callbackData} bytes: ${data}`);
  return data;
}

/** A deadline carried in callback_data (seconds, base 36): a late press can tell "caducó" without state. */
export const deadlinePart = (at: Date) => Math.ceil(at.getTime() / 1000).toString(36);
export const parseDeadline = (part: string | undefined) => (part && /^[0-9a-z]{1,8}$/.test(part) ? new Date(parseInt(part, 36) * 1000) : undefined);

const entry = z.object({
  nonce: z.number(),
  chatId: z.number(),
  messageId: z.number(),
  text: z.string(),
  /** Set when the flow finished: a later press of the same keyboard is told how. */
  ended: z.enum(['done', 'cancelled']).optional(),
});

// Under the user's session prefix (sess:<telegramId>:…), so /borrar removes it with the sessions.
const registryKey = (slot: KeyboardSlot, telegramId: number, chatId: number) => `sess:${telegramId}:${chatId}:kb:${slot.name}`;

type Ctx = Pick<BotContext, 'deps' | 't' | 'telegram' | 'chat' | 'from' | 'reply'>;

async function readEntry(ctx: Ctx, key: string) {
  const raw = await ctx.deps.kv.get(key).catch(() => null);
  if (!raw) return null;
  const parsed = entry.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : null;
}

/** Best effort for edits of old messages: a refusal is logged, only a transient failure propagates when asked. */
async function bestEffort(ctx: Pick<BotContext, 'deps'>, what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    ctx.deps.log.info({ msg: `keyboard: ${what} refused`, error: String(err), transient: isTransientTelegramError(err) });
  }
}

/**
 * Sends `text` with its keyboard as the slot's live keyboard. The previous keyboard of the slot in this
 * chat (a pending confirmation the user never answered) is closed: its text stays, marked as replaced,
 * without buttons.
 */
export async function openKeyboard(
  ctx: Ctx,
  slot: KeyboardSlot,
  nonce: number,
  text: string,
  buttons: InlineKeyboardButton[][],
): Promise<void> {
  const chatId = ctx.chat!.id;
  const key = registryKey(slot, ctx.from!.id, chatId);
  const previous = await readEntry(ctx, key);
  const sent = await ctx.reply(text, { parse_mode: 'HTML', reply_markup: { inline_keyboard: buttons } });
  await ctx.deps.kv
    .set(key, JSON.stringify({ nonce, chatId, messageId: sent.message_id, text }), { ttlSeconds: slot.ttlSeconds })
    .catch((err) => ctx.deps.log.warn({ msg: 'keyboard: registry not written', error: String(err) }));
  if (previous && !previous.ended && previous.nonce !== nonce && previous.messageId !== sent.message_id) {
    await bestEffort(ctx, 'supersede', () =>
      ctx.telegram.editMessageText(previous.chatId, previous.messageId, undefined, `${previous.text}\n\n${ctx.t.keyboardSuperseded()}`, {
        parse_mode: 'HTML',
      }),
    );
  }
}

/**
 * The flow finished and its message now shows the outcome (call after editing it): the registry
 * remembers how, so a late press of the same keyboard is told "ya está hecho" / "ya se canceló".
 */
export async function doneKeyboard(ctx: Ctx, slot: KeyboardSlot, nonce: number, how: 'done' | 'cancelled' = 'done'): Promise<void> {
  const key = registryKey(slot, ctx.from!.id, ctx.chat!.id);
  const current = await readEntry(ctx, key);
  if (current?.nonce !== nonce) return;
  await ctx.deps.kv
    .set(key, JSON.stringify({ ...current, ended: how }), { ttlSeconds: slot.ttlSeconds })
    .catch((err) => ctx.deps.log.warn({ msg: 'keyboard: registry not written', error: String(err) }));
}

/** Why a press of keyboard `nonce` finds no pending flow: replaced by a newer one, past its deadline, or lost. */
export async function whyInactive(ctx: Ctx, slot: KeyboardSlot, nonce: number, deadline?: Date): Promise<KeyboardEnd> {
  const current = await readEntry(ctx, registryKey(slot, ctx.from!.id, ctx.chat!.id));
  if (current && current.nonce > nonce) return 'superseded';
  if (current?.nonce === nonce && current.ended) return current.ended;
  if (deadline && ctx.deps.clock().getTime() >= deadline.getTime()) return 'expired';
  return 'inactive';
}

/**
 * A press of a keyboard whose moment has passed: a short notice (a toast, or an alert when `alert`)
 * saying what happened, and the pressed message loses its buttons (or shows `text` instead).
 */
export async function latePress(
  ctx: Ctx & Pick<BotContext, 'answerCbQuery' | 'editMessageText' | 'editMessageReplyMarkup' | 'callbackQuery'>,
  reason: KeyboardEnd,
  opts: { deadline?: Date; text?: string; alert?: boolean; keepButtons?: boolean } = {},
): Promise<void> {
  const notice = ctx.t.keyboardEnded(reason, opts.deadline, ctx.deps.settings.timeZone, ctx.deps.clock());
  await bestEffort(ctx, 'answerCbQuery', () => ctx.answerCbQuery(notice, opts.alert ? { show_alert: true } : undefined));
  if (opts.keepButtons || reason === 'notYours' || !ctx.callbackQuery?.message) return;
  await bestEffort(ctx, 'close', () =>
    opts.text !== undefined ? ctx.editMessageText(opts.text, { parse_mode: 'HTML' }) : ctx.editMessageReplyMarkup(undefined),
  );
}

export type { InlineKeyboardMarkup };
