import type { Queryable } from '../db/client.js';

export interface UserRef {
  id: number;
  telegramId: number | null;
  username: string | null;
  firstName: string | null;
  status: 'free' | 'vip' | 'banned';
}

type Row = { id: number; telegram_id: number | null; username: string | null; first_name: string | null; status: UserRef['status'] };
const toRef = (r: Row): UserRef => ({
  id: Number(r.id),
  telegramId: r.telegram_id === null ? null : Number(r.telegram_id),
  username: r.username,
  firstName: r.first_name,
  status: r.status,
});

/** A known (not deleted) user by @username, case-insensitive. */
export async function findUserByUsername(db: Queryable, username: string): Promise<UserRef | null> {
  const clean = username.replace(/^@/, '');
  if (!/^[A-Za-z0-9_]{3,32}$/.test(clean)) return null;
  const [row] = await db<Row[]>`
    SELECT id, telegram_id, username, first_name, status FROM users
     WHERE lower(username) = lower(${clean}) AND telegram_id IS NOT NULL
     ORDER BY last_active_at DESC LIMIT 1`;
  return row ? toRef(row) : null;
}

export async function findUserByTelegramId(db: Queryable, telegramId: number): Promise<UserRef | null> {
  const [row] = await db<Row[]>`SELECT id, telegram_id, username, first_name, status FROM users WHERE telegram_id = ${telegramId}`;
  return row ? toRef(row) : null;
}

export async function findUsersByIds(db: Queryable, ids: number[]): Promise<Map<number, UserRef>> {
  if (ids.length === 0) return new Map();
  const rows = await db<Row[]>`SELECT id, telegram_id, username, first_name, status FROM users WHERE id IN ${db([...new Set(ids)])}`;
  return new Map(rows.map((r) => [Number(r.id), toRef(r)]));
}

/** How the bot names a user to others: first name, else @username, else null (deleted account). */
export function displayName(u: { firstName: string | null; username: string | null } | null | undefined): string | null {
  if (!u) return null;
  return u.firstName ?? (u.username ? `@${u.username}` : null);
}
