import type { SubscriberHandler } from './subscriber.js';

/** The seed's EventLog: every event as published, queryable by user and type (lib/bus/audit.ts). The bus's own subscriber. */
export const auditSubscriber: SubscriberHandler = async (tx, event, ctx) => {
  const data = (ctx.raw.data ?? event.data) as never;
  await tx`
    INSERT INTO event_log (event_id, type, version, user_id, occurred_at, data)
    VALUES (${event.event_id}, ${event.type}, ${event.version}, ${event.user_id ?? null}, ${event.occurred_at}, ${tx.json(data)})
    ON CONFLICT (event_id) DO NOTHING`;
};
