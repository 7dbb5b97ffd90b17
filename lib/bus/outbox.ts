import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/client.js';
import { parseEvent } from './events.js';
import { noteWrittenEvents } from './written.js';

/** The envelope every event shares (seed §7.1); lib/bus/events.ts validates the data per type. */
export interface EventEnvelope<T extends string = string, D = Record<string, unknown>> {
  event_id: string;
  type: T;
  version: number;
  occurred_at: string;
  user_id?: number;
  data: D;
}

export function newEvent<T extends string, D>(type: T, data: D, userId?: number, now = new Date()): EventEnvelope<T, D> {
  return { event_id: randomUUID(), type, version: 1, occurred_at: now.toISOString(), user_id: userId, data };
}

/**
 * Writes events to the outbox inside the caller's transaction: a rollback publishes nothing.
 * Each event is checked against the catalogue (lib/bus/events.ts) first, so a malformed event
 * fails the publisher's transaction instead of reaching subscribers (throws InvalidEvent).
 */
export async function publish(tx: Queryable, ...events: EventEnvelope[]): Promise<void> {
  if (events.length === 0) return;
  for (const e of events) parseEvent(JSON.parse(JSON.stringify(e)));
  const rows = events.map((e) => ({
    event_id: e.event_id,
    type: e.type,
    user_id: e.user_id ?? null,
    event: e,
  }));
  await tx`
    INSERT INTO outbox ${tx(
      rows.map((r) => ({ ...r, event: tx.json(r.event as never) })),
      'event_id',
      'type',
      'user_id',
      'event',
    )}`;
  noteWrittenEvents(tx, ...events.map((e) => e.event_id));
}
