import type postgres from 'postgres';
import { createEvent } from '../bus/events.js';
import { publish } from '../bus/outbox.js';
import type { Queryable } from '../db/client.js';

type Tx = postgres.TransactionSql<{}>;
export type ChannelKind = 'free' | 'vip';

export interface ChannelRow {
  chat_id: number;
  title: string | null;
  username: string | null;
  kind: ChannelKind | null;
  bot_status: string;
  missing_rights: string[];
  invite_link: string | null;
}

const norm = (r: ChannelRow): ChannelRow => ({ ...r, chat_id: Number(r.chat_id) });

/** Rights the bot needs as an administrator, with what each is for (Spanish, shown to the admin). */
export const NEEDED_RIGHTS: Record<string, string> = {
  can_invite_users: 'invitar usuarios (aprobar solicitudes y crear enlaces)',
  can_restrict_members: 'expulsar miembros (quitar el acceso VIP al vencer)',
  can_post_messages: 'publicar mensajes (publicaciones programadas)',
  can_edit_messages: 'editar mensajes',
};

/** Which of the needed rights an administrator entry lacks. */
export function missingRights(member: Record<string, unknown>, chatType: string): string[] {
  if (member.status === 'creator') return [];
  return Object.keys(NEEDED_RIGHTS).filter((r) => {
    if ((r === 'can_post_messages' || r === 'can_edit_messages') && chatType !== 'channel') return false;
    return member[r] !== true;
  });
}

export async function vipChannelIds(db: Queryable): Promise<number[]> {
  const rows = await db<{ chat_id: string }[]>`SELECT chat_id FROM channels WHERE kind = 'vip' AND bot_status IN ('administrator', 'creator') ORDER BY chat_id`;
  return rows.map((r) => Number(r.chat_id));
}

export async function findChannel(db: Queryable, chatId: number): Promise<ChannelRow | null> {
  const [row] = await db<ChannelRow[]>`SELECT * FROM channels WHERE chat_id = ${chatId}`;
  return row ? norm(row) : null;
}

export async function listChannels(db: Queryable): Promise<ChannelRow[]> {
  return (await db<ChannelRow[]>`SELECT * FROM channels ORDER BY updated_at DESC LIMIT 50`).map(norm);
}

export async function recordBotStatus(
  db: Queryable,
  c: { chatId: number; title: string | null; username: string | null; status: string; addedBy: number | null; missing: string[] },
): Promise<void> {
  await db`
    INSERT INTO channels (chat_id, title, username, bot_status, added_by, missing_rights)
    VALUES (${c.chatId}, ${c.title}, ${c.username}, ${c.status}, ${c.addedBy}, ${c.missing})
    ON CONFLICT (chat_id) DO UPDATE SET title = EXCLUDED.title, username = EXCLUDED.username, bot_status = EXCLUDED.bot_status,
      added_by = COALESCE(EXCLUDED.added_by, channels.added_by), missing_rights = EXCLUDED.missing_rights, updated_at = now()`;
}

export async function setChannelKind(db: Queryable, chatId: number, kind: ChannelKind): Promise<ChannelRow | null> {
  const [row] = await db<ChannelRow[]>`UPDATE channels SET kind = ${kind}, updated_at = now() WHERE chat_id = ${chatId} RETURNING *`;
  return row ? norm(row) : null;
}

export async function setInviteLink(db: Queryable, chatId: number, link: string): Promise<void> {
  await db`UPDATE channels SET invite_link = ${link}, updated_at = now() WHERE chat_id = ${chatId}`;
}

const MEMBER = new Set(['member', 'administrator', 'creator']);
export function isMemberStatus(m: { status: string; is_member?: boolean }): boolean {
  return MEMBER.has(m.status) || (m.status === 'restricted' && m.is_member === true);
}

/**
 * A chat_member change of a user in a channel we administer: the membership row and, when the
 * channel's kind is set, admin.user_joined_channel / admin.user_left_channel, in one transaction.
 */
export async function recordMembership(
  tx: Tx,
  m: { chatId: number; kind: ChannelKind | null; userId: number; joined: boolean; removed: boolean; inviteLink: string | null; now: Date },
): Promise<void> {
  await tx`
    INSERT INTO channel_members (chat_id, user_id, status, invite_link, joined_at, updated_at)
    VALUES (${m.chatId}, ${m.userId}, ${m.joined ? 'member' : m.removed ? 'kicked' : 'left'}, ${m.inviteLink}, ${m.joined ? m.now : null}, ${m.now})
    ON CONFLICT (chat_id, user_id) DO UPDATE SET status = EXCLUDED.status, invite_link = COALESCE(EXCLUDED.invite_link, channel_members.invite_link),
      joined_at = COALESCE(EXCLUDED.joined_at, channel_members.joined_at), updated_at = EXCLUDED.updated_at`;
  if (!m.kind) return;
  const event = m.joined
    ? createEvent('admin.user_joined_channel', { channel_id: m.chatId, channel_kind: m.kind, invite_link: m.inviteLink?.slice(0, 256) ?? null }, m.userId, m.now)
    : createEvent('admin.user_left_channel', { channel_id: m.chatId, channel_kind: m.kind, reason: m.removed ? 'removed' : 'left' }, m.userId, m.now);
  await publish(tx, event);
}
