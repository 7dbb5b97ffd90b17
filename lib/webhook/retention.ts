import type { Queryable } from '../db/client.js';

/**
 * Deletes handled updates from the inbox. Telegram never redelivers an update older than 24 h, so
 * after a few days the row no longer protects against anything. Failed updates stay for admins to
 * look at for a month, then go too (their payload holds the sender's messages).
 */
export async function pruneInbox(db: Queryable, now: Date, retentionDays = 3, failedRetentionDays = 30, limit = 10_000): Promise<number> {
  const rows = await db`
    DELETE FROM telegram_updates WHERE update_id IN (
      SELECT update_id FROM telegram_updates
       WHERE (status = 'done' AND updated_at < ${now}::timestamptz - ${retentionDays} * interval '1 day')
          OR (status = 'failed' AND updated_at < ${now}::timestamptz - ${failedRetentionDays} * interval '1 day')
       LIMIT ${limit})`;
  return rows.count;
}
