import { Composer, Input, Markup } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { registerCommand, runCommand } from '../../commands/index.js';
import type { Sql } from '../../db/client.js';
import { eraseUser, exportUserData } from '../../users/privacy.js';
import { SessionStore, sessionField, sessionKey } from '../../users/session.js';
import { loadUserState } from '../../users/state.js';
import { localDate } from '../../time/zone.js';
import { registerCommandNotifier } from '../command-results.js';
import type { BotContext } from '../context.js';
import { cb, deadlinePart, doneKeyboard, keyboardSlot, latePress, openKeyboard, parseDeadline, whyInactive } from '../keyboard.js';
import { es } from '../messages.js';

/** The pending /borrar confirmation: five minutes. */
const eraseFlow = sessionField('erase', lazy(() => z.object({ nonce: z.number().int() })), 300);
const ERASE_SLOT = keyboardSlot('erase', 900);

/** /privacidad, /exportar and /borrar. */
export const privacidadFeature = new Composer<BotContext>();

privacidadFeature.command(['privacidad', 'privacy'], (ctx) => ctx.reply(ctx.t.privacy(), { parse_mode: 'HTML' }));
privacidadFeature.action('pv:info', async (ctx) => {
  await ctx.answerCbQuery();
  await ctx.reply(ctx.t.privacy(), { parse_mode: 'HTML' });
});

/**
 * /exportar as an asynchronous command: the update records a `pending` action (and its bus event) and
 * answers at once; the `commands` subscriber marks it done and sends the document (notifier below).
 * Its only effect is its history entry: the document is built when it is sent, from the data at that
 * moment, so a resend after a failed send (Telegram 5xx) carries the same kind of snapshot, not a stale one.
 */
export const exportCommand = registerCommand<{ chatId: number }, null>({
  name: 'export',
  mode: 'async',
  params: lazy(() => z.object({ chatId: z.number().int() })),
  execute: async () => null,
});

registerCommandNotifier('export', async ({ tx, telegram, kv, timeZone, action, telegramId, chatId }) => {
  if (!kv) throw new Error('export: the key-value store (sessions) is not configured for the bus');
  // The user row as stored is the "profile": loading with it writes nothing (no change, last_active
  // never due), so this is a read of the same state the webhook would load.
  const [u] = await tx<{ username: string | null; first_name: string | null; last_name: string | null; language_code: string | null }[]>`
    SELECT username, first_name, last_name, language_code FROM users WHERE id = ${action.userId}`;
  // Absent fields stay absent (loadUserState compares them as NULL), so the row is never rewritten.
  const profile = { id: telegramId, is_bot: false, first_name: (u?.first_name ?? undefined) as string, username: u?.username ?? undefined,
    last_name: u?.last_name ?? undefined, language_code: u?.language_code ?? undefined };
  const now = new Date();
  const state = await loadUserState(tx, profile, { timeZone, now, activeEverySeconds: 100 * 365 * 86_400 });
  // exportUserData runs plain tagged queries: the notification's transaction serves as its db.
  const data = await exportUserData(tx as unknown as Sql, new SessionStore(kv), state, [chatId, telegramId]);
  // The document lists what the user did before asking for it, as when /exportar answered inline.
  if (Array.isArray(data.actions)) data.actions = data.actions.filter((a: { id: number }) => Number(a.id) !== action.id);
  const json = Buffer.from(JSON.stringify(data, null, 2), 'utf8');
  // Personal data goes to the private chat only, even when /exportar was typed in a group.
  await telegram.sendDocument(telegramId, Input.fromBuffer(json, es.exportFileName(localDate(now, timeZone))), { caption: es.exportCaption() });
});

privacidadFeature.command(['exportar', 'export'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  await runCommand(ctx.deps.db, exportCommand, {
    userId: me.id,
    idempotencyKey: `${ctx.state.requestKey}:export`,
    params: { chatId: ctx.chat.id },
    now: ctx.deps.clock(),
  });
  // Also on a replay (Telegram redelivered the update): the first acknowledgement may not have arrived.
  await ctx.reply(ctx.chat.type === 'private' ? ctx.t.exportPreparing() : ctx.t.exportPrivately());
});

privacidadFeature.command(['borrar', 'delete'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const nonce = ctx.update.update_id;
  await ctx.sessions.set(sessionKey(me, ctx.chat.id), eraseFlow, { nonce });
  const expiresAt = new Date(ctx.deps.clock().getTime() + eraseFlow.ttlSeconds * 1000);
  const until = deadlinePart(expiresAt);
  await openKeyboard(
    ctx,
    ERASE_SLOT,
    nonce,
    ctx.t.eraseConfirm(),
    [[Markup.button.callback(ctx.t.eraseYes(), cb('pv', 'del', 'y', nonce, until)), Markup.button.callback(ctx.t.eraseNo(), cb('pv', 'del', 'n', nonce, until))]],
    { expiresAt },
  );
});

privacidadFeature.action(/^pv:del:([yn]):(\d{1,15})(?::([0-9a-z]{1,8}))?$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return ctx.answerCbQuery();
  const nonce = Number(ctx.match[2]);
  const skey = sessionKey(me, ctx.chat.id);
  const pending = await ctx.sessions.get(skey, eraseFlow);
  if (!pending || pending.nonce !== nonce) {
    const deadline = parseDeadline(ctx.match[3]);
    return latePress(ctx, await whyInactive(ctx, ERASE_SLOT, nonce, deadline), { deadline });
  }
  await ctx.answerCbQuery();
  if (ctx.match[1] === 'n') {
    await ctx.sessions.clear(skey, eraseFlow);
    await ctx.editMessageText(ctx.t.eraseCancelled());
    return void (await doneKeyboard(ctx, ERASE_SLOT, nonce, 'cancelled'));
  }
  // Its scheduled "caducó" must not overwrite the outcome (the registry goes with the erasure).
  await doneKeyboard(ctx, ERASE_SLOT, nonce);
  await eraseUser(
    ctx.deps.db,
    ctx.deps.kv,
    { userId: me.id, telegramId: me.telegramId, createdAt: me.createdAt, person: ctx.state.person, updateId: ctx.update.update_id, now: ctx.deps.clock() },
    ctx.deps.log,
  );
  // Best effort: a failed reply must not make Telegram redeliver this update, whose handling would
  // register the (now erased) sender again before reaching this point.
  await ctx.editMessageText(ctx.t.eraseDone()).catch((err) =>
    ctx.deps.log.warn({ msg: 'erasure done, confirmation not delivered', error: String(err) }),
  );
});
