import { z } from 'zod';
import { lazy } from '../lazy.js';
import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'telegraf/types';
import { cancel, reschedule, schedule, type JobHandler, type Tx } from '../scheduler/index.js';
import { displayName, findUsersByIds } from '../users/lookup.js';
import { usersMessages } from './messages-users.js';
import { registerErasureHook } from '../users/privacy.js';
import type { BotContext } from './context.js';
import { sessionKey } from '../users/session.js';
import { LIMITS, nameHtml } from './reply.js';
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

/**
 * A person's name inside a text that waits in a job (a keyboard's closing text): the job keeps the
 * internal id only and the name is looked up when it runs, so a person who erases their data leaves
 * no name in anyone's jobs (an erased person reads as "alguien"). Use it where the text is built
 * (`t.giftDone(amount, nameRef(userId), …)`), and keep the real name for the message sent now.
 */
export const nameRef = (userId: number) => `\u2063[u${userId}]\u2063`;
const NAME_REF = /\u2063\[u(\d{1,15})\]\u2063/g;

/** Puts the names back (HTML-escaped, as the messages do) when the job runs. */
async function renderNameRefs(tx: Tx, text: string): Promise<string> {
  const ids = [...new Set([...text.matchAll(NAME_REF)].map((m) => Number(m[1])))];
  if (ids.length === 0) return text;
  const users = await findUsersByIds(tx, ids);
  return text.replace(NAME_REF, (_, id: string) => nameHtml(displayName(users.get(Number(id))) ?? usersMessages.someone()));
}

/** The scheduled close of a keyboard: the message gets `text` (when given) and no buttons. */
const closePayload = lazy(() => z.object({
  /** null: the owner's private chat, looked up when the job runs (so no job holds a Telegram id). */
  chatId: z.number().int().nullable(),
  messageId: z.number().int(),
  /** Names of others only as nameRef(id), never spelled out (see nameRef). */
  text: z.string().max(8192).nullable(),
  /** Internal id of the user the keyboard belongs to: /borrar deletes their jobs. */
  owner: z.number().int(),
  /** Only while this action is still 'done' (an undo button: not once it was undone). */
  actionId: z.number().int().optional(),
}));
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
    let chatId = p.chatId;
    if (chatId === null) {
      const [u] = await tx<{ telegram_id: number | null }[]>`SELECT telegram_id FROM users WHERE id = ${p.owner}`;
      if (!u?.telegram_id) return; // the owner erased their data: nothing to close for them
      chatId = Number(u.telegram_id);
    }
    try {
      if (p.text !== null) await ctx.telegram.editMessageText(chatId, p.messageId, undefined, await renderNameRefs(tx, p.text), { parse_mode: 'HTML' });
      else await ctx.telegram.editMessageReplyMarkup(chatId, p.messageId, undefined, undefined);
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
      chatId: m.chatId === ctx.from?.id ? null : m.chatId,
      messageId: m.messageId,
      text: m.text,
      owner: (ctx.state as BotContext['state']).user?.id ?? 0,
      ...(m.actionId !== undefined ? { actionId: m.actionId } : {}),
    },
  };
  // The same message may have had a close job before (a confirmation that became an undo button).
  if (!(await schedule(ctx.deps.db, job))) await reschedule(ctx.deps.db, job);
}

registerErasureHook({
  name: 'keyboards',
  erase: async (tx, ids) => {
    // Jobs name their owner by internal id (older ones by Telegram id); a job written by an update
    // still in flight finds no Telegram id to edit for when it runs.
    await tx`
      DELETE FROM scheduled_jobs WHERE kind = ${keyboardCloseJob.kind}
         AND payload->>'owner' IN (${String(ids.userId)}, ${String(ids.telegramId)})`;
  },
});

const cancelClose = (ctx: Pick<BotContext, 'deps'> & Who, chatId: number, messageId: number) =>
  cancel(ctx.deps.db, closeJobKey(ctx, chatId, messageId)).catch((err) => ctx.deps.log.warn({ msg: 'keyboard: close job not cancelled', error: String(err) }));

const entry = lazy(() => z.object({
  nonce: z.number(),
  /** Not stored any more (the key names the chat; a private chat's id is the Telegram id). */
  chatId: z.number().optional(),
  messageId: z.number(),
  /** Set when the flow finished: a later press of the same keyboard is told how. */
  ended: z.enum(['done', 'cancelled']).optional(),
}));

// Under the account's session prefix (sess:<account>:…, lib/users/session.ts), so /borrar removes it
// with the sessions; it holds ids only (no message text: that would keep others' names around).
const registryKey = (slot: KeyboardSlot, ctx: { chat?: BotContext['chat']; state: object }) => {
  const owner = (ctx.state as BotContext['state']).user;
  return owner ? `${sessionKey(owner, ctx.chat!.id)}:kb:${slot.name}` : `kb:anon:${ctx.chat!.id}:${slot.name}`;
};

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
 * chat (a pending confirmation the user never answered) is closed: it says it was replaced, without
 * buttons.
 */
export async function openKeyboard(
  ctx: Ctx,
  slot: KeyboardSlot,
  nonce: number,
  text: string,
  buttons: InlineKeyboardButton[][],
  /** closeText: the text as the expiry job keeps it (others' names as nameRef); default `text`. */
  opts: { expiresAt?: Date; closeText?: string } = {},
): Promise<void> {
  const chatId = ctx.chat!.id;
  const key = registryKey(slot, ctx);
  const previous = await readEntry(ctx, key);
  // In a group the keyboard answers the owner's message, so a press says whose buttons these are
  // (lib/bot/features/private-only.ts turns others away).
  const command = (ctx as { message?: { message_id: number } }).message?.message_id;
  const replyTo = ctx.chat!.type !== 'private' && command ? { reply_parameters: { message_id: command, allow_sending_without_reply: true } } : {};
  const sent = await ctx.reply(text, { parse_mode: 'HTML', reply_markup: { inline_keyboard: buttons }, ...replyTo });
  await ctx.deps.kv
    .set(key, JSON.stringify({ nonce, messageId: sent.message_id }), { ttlSeconds: slot.ttlSeconds })
    .catch((err) => ctx.deps.log.warn({ msg: 'keyboard: registry not written', error: String(err) }));
  if (opts.expiresAt) {
    const note = ctx.t.keyboardExpiredNote(opts.expiresAt, ctx.deps.settings.timeZone);
    await closeKeyboardAt(ctx, { chatId, messageId: sent.message_id, at: opts.expiresAt, text: `${opts.closeText ?? text}\n\n${note}` });
  }
  if (previous && !previous.ended && previous.nonce !== nonce && previous.messageId !== sent.message_id) {
    await cancelClose(ctx, previous.chatId ?? chatId, previous.messageId);
    await bestEffort(ctx, 'supersede', () =>
      ctx.telegram.editMessageText(previous.chatId ?? chatId, previous.messageId, undefined, ctx.t.keyboardSuperseded(), {
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
  const key = registryKey(slot, ctx);
  const current = await readEntry(ctx, key);
  if (current?.nonce !== nonce) return;
  if (current.messageId !== pressed?.message_id) await cancelClose(ctx, current.chatId ?? ctx.chat!.id, current.messageId);
  await ctx.deps.kv
    .set(key, JSON.stringify({ ...current, ended: how }), { ttlSeconds: slot.ttlSeconds })
    .catch((err) => ctx.deps.log.warn({ msg: 'keyboard: registry not written', error: String(err) }));
}

/** Why a press of keyboard `nonce` finds no pending flow: replaced by a newer one, past its deadline, or lost. */
export async function whyInactive(ctx: Ctx, slot: KeyboardSlot, nonce: number, deadline?: Date): Promise<KeyboardEnd> {
  const current = await readEntry(ctx, registryKey(slot, ctx));
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
