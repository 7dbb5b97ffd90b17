import { z } from 'zod';
import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'telegraf/types';
import { cancel, reschedule, schedule, type JobHandler } from '../scheduler/index.js';
import { registerErasureHook } from '../users/privacy.js';
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
 *
 * With `expiresAt`, the keyboard is also closed on time by a scheduled job (lib/scheduler,
 * `keyboard.close`): at its deadline the message keeps its text, gains "⌛ Caducó a las …" and loses its
 * buttons; `doneKeyboard` and a newer keyboard cancel that job. `closeKeyboardAt` does the same for
 * any message (an undo button whose window ends).
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

/** The scheduled close of a keyboard: the message gets `text` (when given) and no buttons. */
const closePayload = z.object({
  chatId: z.number().int(),
  messageId: z.number().int(),
  text: z.string().max(8192).nullable(),
  /** Telegram id of the user the keyboard belongs to: /borrar deletes their jobs (chat ids, texts). */
  owner: z.number().int(),
  /** Only while this action is still 'done' (an undo button: not once it was undone). */
  actionId: z.number().int().optional(),
});
type ClosePayload = z.infer<typeof closePayload>;

type Who = Pick<BotContext, 'from'> & { state: object };
/**
 * One close job per message. The key travels in the scheduler's bus event, so it names the chat
 * without personal data: the owner's internal id and "p" for their private chat (a group's id otherwise).
 */
const closeJobKey = (ctx: Who, chatId: number, messageId: number) => {
  const owner = (ctx.state as BotContext['state']).user?.id ?? 0;
  return `keyboard.close:${owner}:${chatId === ctx.from?.id ? 'p' : chatId}:${messageId}`;
};

export const keyboardCloseJob: JobHandler<ClosePayload> = {
  kind: 'keyboard.close',
  payload: closePayload,
  maxAttempts: 3,
  async run(tx, p, ctx) {
    if (!ctx.telegram) throw new Error('keyboard.close needs the Bot API client');
    if (p.actionId !== undefined) {
      const [a] = await tx<{ status: string }[]>`SELECT status FROM actions WHERE id = ${p.actionId}`;
      if (a?.status !== 'done') return;
    }
    try {
      if (p.text !== null) await ctx.telegram.editMessageText(p.chatId, p.messageId, undefined, p.text, { parse_mode: 'HTML' });
      else await ctx.telegram.editMessageReplyMarkup(p.chatId, p.messageId, undefined, undefined);
    } catch (err) {
      if (isTransientTelegramError(err)) throw err; // retried by the scheduler
      // Deleted message, blocked bot, message too old to edit: nothing left to close.
      ctx.log.info({ msg: 'keyboard.close: message not edited', error: String(err) });
    }
  },
};

/** Schedules the close of a message's keyboard at `at` (idempotent per message). */
export async function closeKeyboardAt(
  ctx: Pick<BotContext, 'deps'> & Who,
  m: { chatId: number; messageId: number; at: Date; text: string | null; actionId?: number },
): Promise<void> {
  const job = {
    kind: keyboardCloseJob.kind,
    key: closeJobKey(ctx, m.chatId, m.messageId),
    dueAt: m.at,
    payload: {
      chatId: m.chatId,
      messageId: m.messageId,
      text: m.text,
      owner: ctx.from!.id,
      ...(m.actionId !== undefined ? { actionId: m.actionId } : {}),
    },
  };
  // The same message may have had a close job before (a confirmation that became an undo button).
  if (!(await schedule(ctx.deps.db, job))) await reschedule(ctx.deps.db, job);
}

registerErasureHook({
  name: 'keyboards',
  erase: async (tx, ids) => {
    await tx`DELETE FROM scheduled_jobs WHERE kind = ${keyboardCloseJob.kind} AND payload->>'owner' = ${String(ids.telegramId)}`;
  },
});

const cancelClose = (ctx: Pick<BotContext, 'deps'> & Who, chatId: number, messageId: number) =>
  cancel(ctx.deps.db, closeJobKey(ctx, chatId, messageId)).catch((err) => ctx.deps.log.warn({ msg: 'keyboard: close job not cancelled', error: String(err) }));

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

type Ctx = Pick<BotContext, 'deps' | 't' | 'telegram' | 'chat' | 'from' | 'reply'> & { callbackQuery?: BotContext['callbackQuery']; state: object };

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
  opts: { expiresAt?: Date } = {},
): Promise<void> {
  const chatId = ctx.chat!.id;
  const key = registryKey(slot, ctx.from!.id, chatId);
  const previous = await readEntry(ctx, key);
  const sent = await ctx.reply(text, { parse_mode: 'HTML', reply_markup: { inline_keyboard: buttons } });
  await ctx.deps.kv
    .set(key, JSON.stringify({ nonce, chatId, messageId: sent.message_id, text }), { ttlSeconds: slot.ttlSeconds })
    .catch((err) => ctx.deps.log.warn({ msg: 'keyboard: registry not written', error: String(err) }));
  if (opts.expiresAt) {
    const note = ctx.t.keyboardExpiredNote(opts.expiresAt, ctx.deps.settings.timeZone);
    await closeKeyboardAt(ctx, { chatId, messageId: sent.message_id, at: opts.expiresAt, text: `${text}\n\n${note}` });
  }
  if (previous && !previous.ended && previous.nonce !== nonce && previous.messageId !== sent.message_id) {
    await cancelClose(ctx, previous.chatId, previous.messageId);
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
  const pressed = ctx.callbackQuery?.message;
  if (pressed) await cancelClose(ctx, pressed.chat.id, pressed.message_id);
  const key = registryKey(slot, ctx.from!.id, ctx.chat!.id);
  const current = await readEntry(ctx, key);
  if (current?.nonce !== nonce) return;
  if (current.messageId !== pressed?.message_id) await cancelClose(ctx, current.chatId, current.messageId);
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
