import { beforeEach, describe, expect, it } from 'vitest';
import { callbackUpdate, nextUpdateId, startTestApp, successfulPaymentUpdate, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { buttonsOf } from '../support/users.js';

const ADMIN = uniqueTelegramId();
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN) });
const { app, telegram, post } = t;
const BOT = { id: 123456, is_bot: true, first_name: 'DianaBot', username: 'DianaTestBot' };
const person = (id: number) => ({ id, is_bot: false, first_name: 'Ana', language_code: 'es' });
let chatSeq = -1_009_000_000_000 - Math.floor(Math.random() * 1e6);

beforeEach(() => telegram.reset());

function botAdded(chatId: number, by: number, rights: Record<string, boolean>, username?: string) {
  return {
    update_id: nextUpdateId(),
    my_chat_member: {
      chat: { id: chatId, title: 'Diana VIP', type: 'channel', ...(username ? { username } : {}) },
      from: person(by),
      date: Math.floor(Date.now() / 1000),
      old_chat_member: { user: BOT, status: 'left' },
      new_chat_member: {
        user: BOT, status: 'administrator', can_be_edited: false, is_anonymous: false, can_manage_chat: true, can_delete_messages: true,
        can_manage_video_chats: false, can_restrict_members: true, can_promote_members: false, can_change_info: false, can_invite_users: true,
        can_post_messages: true, can_edit_messages: true, can_post_stories: false, can_edit_stories: false, can_delete_stories: false, ...rights,
      },
    },
  };
}
function memberChange(chatId: number, user: number, from: number, oldStatus: string, newStatus: string, link?: string) {
  return {
    update_id: nextUpdateId(),
    chat_member: {
      chat: { id: chatId, title: 'Diana VIP', type: 'channel' },
      from: person(from),
      date: Math.floor(Date.now() / 1000),
      old_chat_member: { user: person(user), status: oldStatus },
      new_chat_member: { user: person(user), status: newStatus, ...(newStatus === 'kicked' ? { until_date: 0 } : {}) },
      ...(link ? { invite_link: { invite_link: link, creator: person(ADMIN), creates_join_request: true, is_primary: false, is_revoked: false } } : {}),
    },
  };
}
function joinRequest(chatId: number, user: number) {
  return {
    update_id: nextUpdateId(),
    chat_join_request: { chat: { id: chatId, title: 'Diana VIP', type: 'channel' }, from: person(user), user_chat_id: user, date: Math.floor(Date.now() / 1000) },
  };
}
async function vipChannel(): Promise<number> {
  const chatId = --chatSeq;
  await post(botAdded(chatId, ADMIN, {}));
  await post(callbackUpdate(ADMIN, `ch:kind:${chatId}:vip`));
  telegram.reset();
  return chatId;
}
async function makeVip(tg: number) {
  await post(textUpdate(ADMIN, `/vip_admin dar ${tg} 30 prueba de canal`));
}

describe('channels administered by the bot', () => {
  it('added as administrator by an admin: asks in private free or VIP, says which rights it lacks; the choice is audited', async () => {
    const chatId = --chatSeq;
    await post(botAdded(chatId, ADMIN, { can_invite_users: false }));
    const [ask] = telegram.callsOf('sendMessage');
    expect(ask!.payload.chat_id).toBe(ADMIN);
    expect(ask!.payload.text).toContain('¿Qué tipo de canal es?');
    expect(ask!.payload.text).toContain('invitar usuarios');
    expect(buttonsOf(ask)).toEqual([`ch:kind:${chatId}:free`, `ch:kind:${chatId}:vip`]);
    await post(callbackUpdate(ADMIN, `ch:kind:${chatId}:vip`));
    const [row] = await app.db`SELECT kind, missing_rights FROM channels WHERE chat_id = ${chatId}`;
    expect(row).toMatchObject({ kind: 'vip', missing_rights: ['can_invite_users'] });
    const [action] = await app.db`SELECT a.name FROM actions a JOIN users u ON u.id = a.user_id WHERE u.telegram_id = ${ADMIN} AND a.name = 'admin.channel_kind'`;
    expect(action).toBeDefined();
  });

  it('paid access on a public channel: the admin is warned that people join for free there', async () => {
    const chatId = --chatSeq;
    await post(botAdded(chatId, ADMIN, {}, 'diana_publico'));
    await post(callbackUpdate(ADMIN, `ch:kind:${chatId}:vip`));
    expect(telegram.sentTexts(ADMIN).at(-1)).toContain('público');
  });

  it('added by someone who is not an admin: a polite refusal and the bot leaves; nobody else may set a kind', async () => {
    const stranger = uniqueTelegramId();
    const chatId = --chatSeq;
    await post(botAdded(chatId, stranger, {}));
    expect(telegram.sentTexts(stranger)[0]).toContain('me retiro');
    expect(telegram.callsOf('leaveChat')[0]!.payload.chat_id).toBe(chatId);
    await post(callbackUpdate(stranger, `ch:kind:${chatId}:vip`));
    expect(await app.db`SELECT 1 FROM channels WHERE chat_id = ${chatId} AND kind IS NOT NULL`).toHaveLength(0);
  });

  it('join requests to the VIP channel: approved with VIP, otherwise a private message then declined', async () => {
    const chatId = await vipChannel();
    const fan = uniqueTelegramId();
    const vip = uniqueTelegramId();
    await post(textUpdate(vip, '/start'));
    await makeVip(vip);
    telegram.reset();
    await post(joinRequest(chatId, fan));
    await post(joinRequest(chatId, vip));
    expect(telegram.callsOf('declineChatJoinRequest').map((c) => c.payload.user_id)).toEqual([fan]);
    expect(telegram.callsOf('approveChatJoinRequest').map((c) => c.payload.user_id)).toEqual([vip]);
    expect(telegram.sentTexts(fan)[0]).toContain('/vip');
    // the message goes before the decline: user_chat_id only works until the request is handled
    const order = telegram.calls.map((c) => c.method);
    expect(order.indexOf('sendMessage')).toBeLessThan(order.indexOf('declineChatJoinRequest'));
  });

  it('chat_member updates keep the membership table and publish joined/left; a non-VIP who got in is removed', async () => {
    const chatId = await vipChannel();
    const vip = uniqueTelegramId();
    await post(textUpdate(vip, '/start'));
    await makeVip(vip);
    await post(memberChange(chatId, vip, vip, 'left', 'member', 'https://t.me/+abc'));
    await post(memberChange(chatId, vip, vip, 'member', 'left'));
    const events = await app.db<{ type: string }[]>`
      SELECT o.type FROM outbox o JOIN users u ON u.id = o.user_id WHERE u.telegram_id = ${vip} AND o.type LIKE 'admin.user_%' ORDER BY o.id`;
    expect(events.map((e) => e.type)).toEqual(['admin.user_joined_channel', 'admin.user_left_channel']);
    const [m] = await app.db`SELECT cm.status, cm.invite_link FROM channel_members cm JOIN users u ON u.id = cm.user_id WHERE u.telegram_id = ${vip}`;
    expect(m).toMatchObject({ status: 'left', invite_link: 'https://t.me/+abc' });
    // Someone without VIP joins through a link passed on to them: out again, told why.
    const intruder = uniqueTelegramId();
    telegram.reset();
    await post(memberChange(chatId, intruder, intruder, 'left', 'member', 'https://t.me/+abc'));
    expect(telegram.callsOf('banChatMember').map((c) => c.payload)).toEqual([expect.objectContaining({ chat_id: chatId, user_id: intruder })]);
    expect(telegram.callsOf('unbanChatMember').map((c) => c.payload)).toEqual([expect.objectContaining({ chat_id: chatId, user_id: intruder, only_if_banned: true })]);
    expect(telegram.sentTexts(intruder)[0]).toContain('solo para miembros');
  });

  it('/vip gives an active subscriber the channel\'s join-request link (created once)', async () => {
    await vipChannel();
    const vip = uniqueTelegramId();
    await post(textUpdate(vip, '/start'));
    await makeVip(vip);
    telegram.reset();
    await post(textUpdate(vip, '/vip'));
    await post(textUpdate(vip, '/vip'));
    const created = telegram.callsOf('createChatInviteLink');
    expect(created).toHaveLength(1);
    expect(JSON.stringify(telegram.callsOf('sendMessage')[1]!.payload.reply_markup)).toContain('https://t.me/+link');
  });

  it('/canales lists channels for admins; every admin command is refused to a non-admin', async () => {
    await vipChannel();
    await post(textUpdate(ADMIN, '/canales'));
    expect(telegram.sentTexts(ADMIN)[0]).toContain('Canales');
    const user = uniqueTelegramId();
    for (const cmd of ['/canales', '/vip_admin', `/vip_admin dar ${user} 5 porque sí`, '/vip_admin reembolsar x abc', '/eventos']) {
      await post(textUpdate(user, cmd));
    }
    const texts = telegram.sentTexts(user);
    expect(texts).toHaveLength(5);
    expect(texts.every((x) => x.includes('solo para administradores'))).toBe(true);
    expect(await app.db`SELECT 1 FROM vip_subscriptions s JOIN users u ON u.id = s.user_id WHERE u.telegram_id = ${user}`).toHaveLength(0);
  });
});

void successfulPaymentUpdate;
