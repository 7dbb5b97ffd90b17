import type { Sql } from '../db/client.js';

/**
 * Marks handled updates done in the inbox, by group commit (issue 18): while one completion statement
 * is in flight, the updates that finish meanwhile wait for it and then go together in the next one,
 * so under load one `UPDATE … WHERE update_id = ANY(…)` completes several updates instead of one
 * statement each. Every caller still waits until its own row is written: a webhook answers 200 only
 * after its update is recorded as done, as before; a failed statement fails every update of its batch,
 * and each takes the webhook's failure path (recorded as retry, 503) exactly as a failed single
 * statement did. One update at a time (a serverless instance) costs the same one statement.
 */
export function createInboxCompleter(db: Sql): (updateId: number) => Promise<void> {
  let waiting: { id: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let flushing = false;
  const flush = async () => {
    while (waiting.length) {
      const batch = waiting;
      waiting = [];
      try {
        await markDone(db, batch.map((w) => w.id));
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    flushing = false;
  };
  return (updateId) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ id: updateId, resolve, reject });
      if (!flushing) {
        flushing = true;
        void flush();
      }
    });
}

/** One statement; a handled update keeps nothing that identifies its sender (as before: no payload, sender, body hash). */
export async function markDone(db: Sql, updateIds: number[]): Promise<void> {
  await db`
    UPDATE telegram_updates SET status = 'done', from_id = NULL, payload = NULL, body_hash = NULL, error = NULL, locked_until = NULL, updated_at = now()
     WHERE update_id = ANY(string_to_array(${updateIds.join(',')}, ',')::bigint[])`;
}
