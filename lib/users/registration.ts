import type { Queryable } from '../db/client.js';

export interface TelegramProfile {
  id: number;
  username?: string;
  first_name?: string;
  last_name?: string;
  language_code?: string;
}

export interface UserRecord {
  id: number;
  telegramId: number;
  username: string | null;
  firstName: string | null;
  status: 'free' | 'vip' | 'banned';
  createdAt: Date;
  created: boolean;
}

interface Row {
  id: number;
  telegram_id: number;
  username: string | null;
  first_name: string | null;
  status: UserRecord['status'];
  created_at: Date;
  created: boolean;
}

/**
 * Finds or creates the user of a Telegram profile, with its besitos account, in one statement.
 * Concurrent first updates of a new user create exactly one row (ON CONFLICT); a changed username
 * or name is written only when it differs.
 */
export async function registerUser(db: Queryable, p: TelegramProfile): Promise<UserRecord> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const rows = await db<Row[]>`
      WITH ins AS (
        INSERT INTO users (telegram_id, username, first_name, last_name, language_code)
        VALUES (${p.id}, ${p.username ?? null}, ${p.first_name ?? null}, ${p.last_name ?? null}, ${p.language_code ?? null})
        ON CONFLICT (telegram_id) DO UPDATE
           SET username = EXCLUDED.username, first_name = EXCLUDED.first_name,
               last_name = EXCLUDED.last_name, language_code = EXCLUDED.language_code
         WHERE (users.username, users.first_name, users.last_name, users.language_code)
               IS DISTINCT FROM (EXCLUDED.username, EXCLUDED.first_name, EXCLUDED.last_name, EXCLUDED.language_code)
        RETURNING id, telegram_id, username, first_name, status, created_at, (xmax = 0) AS created
      ), bal AS (
        INSERT INTO user_balances (user_id) SELECT id FROM ins WHERE created ON CONFLICT DO NOTHING
      )
      SELECT * FROM ins
      UNION ALL
      SELECT id, telegram_id, username, first_name, status, created_at, false
        FROM users WHERE telegram_id = ${p.id} AND NOT EXISTS (SELECT 1 FROM ins)`;
    const row = rows[0];
    // Empty only when a concurrent first insert committed after this statement's snapshot: read again.
    if (row) {
      return {
        id: Number(row.id),
        telegramId: Number(row.telegram_id),
        username: row.username,
        firstName: row.first_name,
        status: row.status,
        createdAt: new Date(row.created_at),
        created: row.created,
      };
    }
  }
  throw new Error(`could not register telegram user ${p.id}`);
}
