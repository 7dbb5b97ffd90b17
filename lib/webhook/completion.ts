import type { PendingQuery } from 'postgres';
import type { ClaimedRow } from '../bus/relay.js';
import type { Queryable, Sql } from '../db/client.js';

/**
 * Marks handled updates done in the inbox, by group commit (issue 18): while one completion statement
 * is in flight, the updates that finish meanwhile wait for it and then go together in the next one,
 * so under load one `UPDATE … WHERE update_id = ANY(…)` completes several updates instead of one
 * statement each. Every caller still waits until its own row is written: a webhook answers 200 only
 * after its update is recorded as done, as before; a failed statement fails every update of its batch,
 * and each takes the webhook's failure path (recorded as retry, 503) exactly as a failed single
 * statement did. One update at a time (a serverless instance) costs the same one statement.
 */
export function createInboxCompleter(db: Sql, claim?: EventClaim): (updateId: number, eventIds?: string[]) => Promise<ClaimedRow[] | undefined> {
  let waiting: { id: number; events: string[]; resolve: (rows: ClaimedRow[] | undefined) => void; reject: (err: unknown) => void }[] = [];
  let flushing = false;
  const flush = async () => {
    while (waiting.length) {
      const batch = waiting;
      waiting = [];
      try {
        const events = claim ? batch.flatMap((w) => w.events) : [];
        const rows = await markDone(db, batch.map((w) => w.id), events.length ? claim!(db, events) : undefined);
        for (const w of batch) {
          if (!claim || w.events.length === 0) w.resolve(undefined);
          else {
            const mine = new Set(w.events);
            w.resolve(rows!.filter((r) => mine.has(r.event_id)));
          }
        }
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    flushing = false;
  };
  return (updateId, eventIds = []) =>
    new Promise<ClaimedRow[] | undefined>((resolve, reject) => {
      waiting.push({ id: updateId, events: eventIds, resolve, reject });
      if (!flushing) {
        flushing = true;
        void flush();
      }
    });
}

/**
 * The after-commit relay's claim of some events (lib/bus claimAfterCommit): an `UPDATE outbox …
 * RETURNING` the completion sends in its own statement (issue 18: one statement fewer per update that
 * wrote events). It commits with the completion: a completion that fails claims nothing, and the
 * events wait for the sweep as when the hook never ran.
 */
export type EventClaim = (q: Queryable, eventIds: string[]) => PendingQuery<ClaimedRow[]>;

/**
 * One statement; a handled update keeps nothing that identifies its sender (as before: no payload, sender, body hash).
 * With `claim`, the same statement also claims the updates' events for the after-commit relay and returns them.
 */
export async function markDone(db: Sql, updateIds: number[], claim?: PendingQuery<ClaimedRow[]>): Promise<ClaimedRow[] | undefined> {
  const done = db`
    UPDATE telegram_updates SET status = 'done', from_id = NULL, payload = NULL, body_hash = NULL, error = NULL, locked_until = NULL, updated_at = now()
     WHERE update_id = ANY(string_to_array(${updateIds.join(',')}, ',')::bigint[])`;
  if (!claim) {
    await done;
    return undefined;
  }
  return db<ClaimedRow[]>`WITH done AS (${done}) ${claim}`;
}
