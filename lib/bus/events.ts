import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { lazy, lazyValues } from '../lazy.js';

/**
 * The event catalogue (seed §7.1): every event the modules publish, as zod schemas in one
 * discriminated union on `type`. Publisher (lib/bus/outbox.ts publish) and subscribers
 * (lib/bus/receive.ts) validate with the same schema.
 *
 * Ids: `user_id` and ids inside `data` are internal ids (users.id, transactions.id), never
 * Telegram ids, except where a field says telegram_*.
 */

const key = lazy(() => z.string().min(1).max(128));
const id = lazy(() => z.number().int().positive());
const count = lazy(() => z.number().int().nonnegative());
const positive = lazy(() => z.number().int().positive());
const instant = lazy(() => z.iso.datetime({ offset: true }));
/** Telegram chat ids are negative for groups and channels. */
const chatId = lazy(() => z.number().int());

const besitosMove = lazy(() =>
  z.object({
    amount: positive,
    source: z.string().min(1).max(64),
    transaction_id: id,
    balance_after: count,
    /** Set on compensating entries: the transaction this one reverses. */
    reversal_of: id.optional(),
  }),
);

/** The `data` schema of every event type. */
export const eventDataSchemas = lazyValues({
  // Narrative
  'narrative.fragment_started': () => z.object({ fragment_key: key, level: count }),
  'narrative.decision_made': () => z.object({
    fragment_key: key,
    decision_key: key,
    next_fragment_key: key.nullable(),
  }),
  'narrative.fragment_completed': () => z.object({ fragment_key: key, level: count, besitos_awarded: count }),
  'narrative.level_completed': () => z.object({ level: count, fragments_completed: count }),
  'narrative.secret_discovered': () => z.object({ secret_key: key, fragment_key: key }),

  // Gamification
  'gamification.besitos_earned': () => besitosMove,
  'gamification.besitos_spent': () => besitosMove,
  'gamification.item_purchased': () => z.object({ item_key: key, quantity: positive, price: count, transaction_id: id.nullable() }),
  'gamification.item_used': () => z.object({ item_key: key, quantity: positive }),
  'gamification.achievement_unlocked': () => z.object({ achievement_key: key, reward_besitos: count }),
  'gamification.mission_assigned': () => z.object({
    mission_key: key,
    mission_type: z.enum(['daily', 'weekly', 'narrative', 'special']),
    expires_at: instant.nullable(),
  }),
  'gamification.mission_completed': () => z.object({ mission_key: key, reward_besitos: count }),
  'gamification.auction_won': () => z.object({ auction_id: id, item_key: key, amount: positive, transaction_id: id.nullable() }),
  'gamification.trivia_answered': () => z.object({
    trivia_key: key,
    correct: z.boolean(),
    reward_besitos: count,
    response_ms: count.nullable(),
  }),

  // Referrals (lib/gamification/referrals.ts). user_id is the referee's; referrer_id the internal id of who invited.
  'gamification.referral_recorded': () => z.object({ referrer_id: id }),
  'gamification.referral_refused': () => z.object({
    reason: z.enum(['unknown_code', 'self', 'not_new', 'already_referred', 'cycle']),
    referrer_id: id.nullable(),
  }),
  'gamification.referral_rewarded': () => z.object({ referrer_id: id, referee_reward: count, referrer_reward: count }),
  'gamification.referral_not_rewarded': () => z.object({ referrer_id: id, reason: z.enum(['capped', 'lapsed']) }),

  // Administration
  'admin.subscription_started': () => z.object({
    subscription_id: id,
    plan: key,
    starts_at: instant,
    expires_at: instant,
  }),
  'admin.subscription_expiring': () => z.object({ subscription_id: id, expires_at: instant, days_left: count }),
  'admin.subscription_expired': () => z.object({ subscription_id: id, expired_at: instant }),
  'admin.user_joined_channel': () => z.object({ channel_id: chatId, channel_kind: z.enum(['free', 'vip']), invite_link: z.string().max(256).nullable() }),
  'admin.user_left_channel': () => z.object({
    channel_id: chatId,
    channel_kind: z.enum(['free', 'vip']),
    reason: z.enum(['left', 'removed', 'expired']),
  }),
  'admin.content_published': () => z.object({
    content_type: z.enum(['fragment', 'mission', 'item', 'achievement', 'trivia', 'channel_post']),
    content_key: key,
    channel_id: chatId.nullable(),
  }),

  // Internal (not in seed §7.1): plumbing between our own functions.
  /** An async command was accepted (actions row `pending`); the `commands` subscriber executes it once. */
  'system.command_requested': () => z.object({ action_id: id, name: z.string().min(1).max(64) }),
  /**
   * A scheduled job's trigger (lib/scheduler): published with Upstash-Not-Before = run_at (clamped to
   * QStash's longest delay; `hop` counts re-arms), so the `scheduler` subscriber runs the job on time.
   */
  'system.job_due': () => z.object({ job_key: z.string().min(1).max(200), run_at: instant, hop: count }),
});

export type EventType = keyof typeof eventDataSchemas;
export const EVENT_TYPES = Object.keys(eventDataSchemas) as EventType[];
/** Types that are ours, not the seed's domain events (the other 20 are seed §7.1). */
export const INTERNAL_EVENT_TYPES = EVENT_TYPES.filter((t) => t.startsWith('system.'));
export const CURRENT_VERSION = 1;

const envelope = () => ({
  event_id: z.uuid(),
  version: z.number().int().min(1),
  occurred_at: instant,
  /** Absent (or null) for events about no particular user, e.g. admin.content_published. */
  user_id: id.nullish().transform((v) => v ?? undefined),
});

function eventSchemaFor<T extends EventType>(type: T) {
  return z.object({ ...envelope(), type: z.literal(type), data: eventDataSchemas[type] });
}

type SchemaMap = { [T in EventType]: ReturnType<typeof eventSchemaFor<T>> };
const schemas = lazyValues(Object.fromEntries(EVENT_TYPES.map((t) => [t, () => eventSchemaFor(t)])) as { [T in EventType]: () => SchemaMap[T] });

/** Every event, discriminated on `type`. Every schema here is built on first use (lib/lazy.ts). */
export const eventSchema = lazy(() =>
  z.discriminatedUnion('type', EVENT_TYPES.map((t) => schemas[t]) as unknown as [SchemaMap[EventType], ...SchemaMap[EventType][]]),
);

export type BusEvent = z.output<typeof eventSchema>;
export type EventOf<T extends EventType> = z.output<SchemaMap[T]>;
export type EventData<T extends EventType> = z.input<(typeof eventDataSchemas)[T]>;

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && Object.hasOwn(eventDataSchemas, type);
}

export class InvalidEvent extends Error {
  constructor(
    message: string,
    readonly type: string | null,
  ) {
    super(message);
    this.name = 'InvalidEvent';
  }
}

/** Validates an event (already JSON-parsed); throws InvalidEvent naming the type and the bad fields. */
export function parseEvent(value: unknown): BusEvent {
  const result = eventSchema.safeParse(value);
  if (result.success) return result.data;
  const type = value && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  const known = isEventType(type);
  const detail = result.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`)
    .join('; ');
  throw new InvalidEvent(
    known ? `invalid ${type} event: ${detail}` : `unknown event type ${JSON.stringify(type ?? null)}`,
    typeof type === 'string' ? type : null,
  );
}

/** A new event of a catalogue type, its data checked at compile time (and at publish time). */
export function createEvent<T extends EventType>(type: T, data: EventData<T>, userId?: number, now = new Date()) {
  return { event_id: randomUUID(), type, version: CURRENT_VERSION, occurred_at: now.toISOString(), user_id: userId, data };
}
