import { createHash } from 'node:crypto';
import type { Queryable } from '../db/client.js';
import { noteWrittenEvents, parseEvent } from '../bus/index.js';

/**
 * A job's trigger: a `system.job_due` event in the outbox, which the relay publishes to QStash with
 * Upstash-Not-Before = run_at, so the `scheduler` subscriber runs the job on time (the cron sweep
 * catches whatever a trigger misses). Its id is derived from (key, run_at, hop): writing the same
 * trigger twice is one outbox row, and a trigger for a time the job no longer has finds nothing to run.
 */
export function triggerEvent(key: string, runAt: Date, hop = 0) {
  const runAtIso = runAt.toISOString();
  const h = createHash('sha256').update(`job_due\u0000${key}\u0000${runAtIso}\u0000${hop}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // UUID version 8 (custom, RFC 9562)
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC variant
  const hex = h.subarray(0, 16).toString('hex');
  const event = {
    event_id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`,
    type: 'system.job_due' as const,
    version: 1,
    occurred_at: runAtIso,
    data: { job_key: key, run_at: runAtIso, hop },
  };
  parseEvent(event);
  return event;
}

/**
 * The CTE part that writes a trigger for the rows of `source` (a preceding CTE returning the job):
 * used inside the scheduling statement itself, so a trigger costs no round trip and commits or rolls
 * back with the job. Notes the event id for the webhook's after-commit relay.
 */
export function triggerInsert(q: Queryable, source: string, key: string, runAt: Date, hop = 0) {
  const event = triggerEvent(key, runAt, hop);
  noteWrittenEvents(q, event.event_id);
  return q`
    INSERT INTO outbox (event_id, type, event)
    SELECT ${event.event_id}, ${event.type}, ${q.json(event as never)} FROM ${q(source)}
    ON CONFLICT (event_id) DO NOTHING`;
}

/**
 * As triggerInsert, for jobs whose key is known only inside the statement (the rows of `source`, a
 * preceding CTE returning the job's `key`, e.g. one built from a row id the statement itself inserts).
 * The event id is triggerEvent's, derived in SQL from the same bytes (tests/integration/besitos-lots
 * checks they agree). RETURNING event_id: the caller notes those for the webhook's after-commit relay.
 */
export function triggerInsertFrom(q: Queryable, source: string, runAt: Date, hop = 0) {
  const iso = runAt.toISOString();
  const nul = q`decode('00', 'hex')`;
  return q`
    INSERT INTO outbox (event_id, type, event)
    SELECT e.id, 'system.job_due',
           jsonb_build_object('event_id', e.id::text, 'type', 'system.job_due', 'version', 1, 'occurred_at', ${iso}::text,
                              'data', jsonb_build_object('job_key', s.key, 'run_at', ${iso}::text, 'hop', ${hop}::int))
      FROM ${q(source)} s,
           LATERAL (SELECT sha256(convert_to('job_due', 'UTF8') || ${nul} || convert_to(s.key, 'UTF8') || ${nul}
                                  || convert_to(${iso}::text, 'UTF8') || ${nul} || convert_to(${String(hop)}::text, 'UTF8')) AS d) h,
           LATERAL (SELECT encode(set_byte(set_byte(substring(h.d FROM 1 FOR 16), 6, (get_byte(h.d, 6) & 15) | 128), 8, (get_byte(h.d, 8) & 63) | 128), 'hex')::uuid AS id) e
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id`;
}
