import type { Queryable } from '../db/client.js';

export interface LoggedEvent {
  eventId: string;
  type: string;
  userId: number | null;
  occurredAt: Date;
  data: Record<string, unknown>;
}

export interface EventQuery {
  userId?: number;
  /** A full type (gamification.besitos_earned) or a module prefix (gamification). */
  type?: string;
  limit?: number;
}

/** The audit log (event_log), newest first, by user and/or type. */
export async function recentEvents(db: Queryable, q: EventQuery = {}): Promise<LoggedEvent[]> {
  const limit = Math.min(Math.max(q.limit ?? 20, 1), 200);
  const type = q.type ? (q.type.includes('.') ? q.type : `${q.type}.%`) : undefined;
  const rows = await db<{ event_id: string; type: string; user_id: number | null; occurred_at: Date; data: Record<string, unknown> }[]>`
    SELECT event_id, type, user_id, occurred_at, data FROM event_log
     WHERE true
       ${q.userId !== undefined ? db`AND user_id = ${q.userId}` : db``}
       ${type ? (type.endsWith('%') ? db`AND type LIKE ${type}` : db`AND type = ${type}`) : db``}
     ORDER BY occurred_at DESC, event_id
     LIMIT ${limit}`;
  return rows.map((r) => ({ eventId: r.event_id, type: r.type, userId: r.user_id, occurredAt: new Date(r.occurred_at), data: r.data ?? {} }));
}
