import { Composer, Markup, TelegramError } from 'telegraf';
import {
  findChannel,
  isActive,
  findVip,
  isMemberStatus,
  listChannels,
  missingRights,
  NEEDED_RIGHTS,
  recordBotStatus,
  recordMembership,
  removeFromVipChannels,
  runAdminCommand,
  channelKindCommand,
} from '../../admin/index.js';
import { withTransaction } from '../../db/transaction.js';
import { registerUser } from '../../users/registration.js';
import { callApi } from '../../telegram/api.js';
import type { BotContext } from '../context.js';
import { channelMessages as m } from '../messages-channels.js';
import { isAdmin } from './vip-admin.js';

const HTML = { parse_mode: 'HTML' as const };

/** Channels: the bot added as administrator, free/VIP setup, membership, VIP join requests, /canales. */
export const channelsFeature = new Composer<BotContext>();

const kindButtons = (chatId: number) =>
  Markup.inlineKeyboard([[Markup.button.callback(m.freeButton, `ch:kind:${chatId}:free`), Markup.button.callback(m.vipButton, `ch:kind:${chatId}:vip`)]]);

channelsFeature.on('my_chat_member', async (ctx) => {
  const u = ctx.myChatMember;
  const chat = u.chat;
  if (chat.type === 'private') return; // blocked / unblocked in private: nothing to set up
  const member = u.new_chat_member as unknown as Record<string, unknown> & { status: string };
  const title = 'title' in chat ? chat.title : null;
  const username = 'username' in chat ? (chat.username ?? null) : null;
  const adder = ctx.state.user ?? null;
  const isAdminNow = member.status === 'administrator' || member.status === 'creator';
  const wasAdmin = ['administrator', 'creator'].includes(u.old_chat_member.status);
  if (isAdminNow && !isAdmin(ctx)) {
    // Only the bot's admins may put it in a channel: a polite refusal, then it leaves.
    await ctx.telegram.sendMessage(u.from.id, m.refusedNotAdmin(title ?? ''), HTML).catch(() => undefined);
    await ctx.telegram.leaveChat(chat.id).catch(() => undefined);
    return;
  }
  const missing = isAdminNow ? missingRights(member, chat.type) : [];
  await recordBotStatus(ctx.deps.db, { chatId: chat.id, title, username, status: member.status, addedBy: isAdminNow ? (adder?.id ?? null) : null, missing });
  if (!isAdminNow) return;
  const known = await findChannel(ctx.deps.db, chat.id);
  const text = wasAdmin ? m.rightsChanged(title ?? String(chat.id), missing) : m.askKind(title ?? String(chat.id), missing);
  const keyboard = !wasAdmin || !known?.kind ? kindButtons(chat.id) : undefined;
  await ctx.telegram.sendMessage(u.from.id, text, { ...HTML, ...keyboard }).catch((err) => {
    // The admin never opened a private chat with the bot: the setup waits for /canales.
    if (!(err instanceof TelegramError && err.code === 403)) throw err;
  });
});

channelsFeature.action(/^ch:kind:(-?\d{1,20}):(free|vip)$/, async (ctx) => {
  if (!isAdmin(ctx)) return ctx.answerCbQuery(ctx.t.forbidden(), { show_alert: true });
  const chatId = Number(ctx.match[1]);
  const kind = ctx.match[2] as 'free' | 'vip';
  const r = await runAdminCommand(ctx.deps.db, channelKindCommand, ctx.state.user!.id, ctx.state.requestKey, { chatId, kind }, ctx.deps.clock());
  if (!r) return ctx.answerCbQuery(m.unknownChannel, { show_alert: true });
  await ctx.answerCbQuery();
  await ctx.reply(m.kindSet(r.title ?? String(chatId), kind, kind === 'vip' && Boolean(r.username), r.missing), HTML);
});

channelsFeature.on('chat_member', async (ctx) => {
  const u = ctx.chatMember;
  const who = u.new_chat_member.user;
  if (who.is_bot) return;
  const channel = await findChannel(ctx.deps.db, u.chat.id);
  if (!channel) return; // a chat the bot does not administer for us
  const joined = isMemberStatus(u.new_chat_member as never) && !isMemberStatus(u.old_chat_member as never);
  const left = !isMemberStatus(u.new_chat_member as never) && isMemberStatus(u.old_chat_member as never);
  if (!joined && !left) return;
  const now = ctx.deps.clock();
  const member = ctx.state.user?.telegramId === who.id ? ctx.state.user : await registerUser(ctx.deps.db, who);
  const removed = u.new_chat_member.status === 'kicked' || (left && u.from.id !== who.id);
  await withTransaction(ctx.deps.db, (tx) =>
    recordMembership(tx, { chatId: u.chat.id, kind: channel.kind, userId: member.id, joined, removed, inviteLink: u.invite_link?.invite_link ?? null, now }),
  );
  // Into the VIP channel without VIP (a link passed on by someone else, an admin's own link): out again.
  if (joined && channel.kind === 'vip' && !ctx.deps.settings.adminTelegramIds.includes(who.id)) {
    if (!isActive(await findVip(ctx.deps.db, member.id), now)) {
      await withTransaction(ctx.deps.db, (tx) => removeFromVipChannels(tx, ctx.telegram, ctx.deps.log, member.id, who.id, [u.chat.id]));
      await ctx.telegram.sendMessage(who.id, m.notVip, HTML).catch(() => undefined);
    }
  }
});

/**
 * Join requests to the VIP channel: approved for an active subscriber; otherwise the user is told how
 * to subscribe (user_chat_id allows it until the request is handled), then declined.
 */
channelsFeature.on('chat_join_request', async (ctx, next) => {
  const r = ctx.chatJoinRequest;
  const channel = await findChannel(ctx.deps.db, r.chat.id);
  if (!channel || channel.kind !== 'vip') return next();
  const user = ctx.state.user;
  const active = user ? isActive(await findVip(ctx.deps.db, user.id), ctx.deps.clock()) : false;
  if (active) {
    await callApi(ctx.telegram, 'approveChatJoinRequest', { chat_id: r.chat.id, user_id: r.from.id });
    return;
  }
  await ctx.telegram.sendMessage(r.user_chat_id, m.joinDeclined(channel.title ?? ''), HTML).catch(() => undefined);
  await callApi(ctx.telegram, 'declineChatJoinRequest', { chat_id: r.chat.id, user_id: r.from.id }).catch((err) => {
    // Already handled (e.g. an admin approved it by hand, or a redelivery): nothing left to do.
    if (!(err instanceof TelegramError && err.code === 400)) throw err;
  });
});

/** /canales (admins): the channels the bot administers, their kind and missing rights, buttons to set the kind. */
channelsFeature.command('canales', async (ctx) => {
  if (!isAdmin(ctx)) return ctx.reply(ctx.t.forbidden());
  const channels = await listChannels(ctx.deps.db);
  if (channels.length === 0) return ctx.reply(m.noChannels, HTML);
  const rows = channels
    .filter((c) => c.bot_status === 'administrator' || c.bot_status === 'creator')
    .map((c) => [
      Markup.button.callback(`${c.kind === 'free' ? '✓ ' : ''}Gratis · ${(c.title ?? String(c.chat_id)).slice(0, 20)}`, `ch:kind:${c.chat_id}:free`),
      Markup.button.callback(`${c.kind === 'vip' ? '✓ ' : ''}VIP`, `ch:kind:${c.chat_id}:vip`),
    ]);
  await ctx.reply(m.list(channels), { ...HTML, ...Markup.inlineKeyboard(rows) });
});

export { NEEDED_RIGHTS };
