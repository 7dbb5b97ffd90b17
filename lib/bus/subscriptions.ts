import { EVENT_TYPES, isEventType, type EventType } from './events.js';

/**
 * Who hears what (the seed's Observer, seed §7.1), in code. Each subscriber is one function
 * (api/events/<name>.ts) that QStash calls once per (event, subscriber); without QStash the relay
 * calls the same handlers in-process. Handlers live in the module that owns them
 * (lib/<module>/subscriber.ts) and are wired into the bus by lib/app.ts.
 */
export const SUBSCRIBERS = ['audit', 'gamification', 'narrative', 'admin', 'commands', 'scheduler'] as const;
export type SubscriberName = (typeof SUBSCRIBERS)[number];

export const routes: Record<SubscriberName, readonly EventType[]> = {
  /** The EventLog: every event, for admins and analytics (not the scheduler's triggers: plumbing, one per job run). */
  audit: EVENT_TYPES.filter((t) => t !== 'system.job_due'),
  /** Source analytics from the ledger; missions and achievements progress on story events. */
  gamification: [
    'gamification.besitos_earned',
    'gamification.besitos_spent',
    'narrative.fragment_completed',
    'narrative.level_completed',
    'narrative.secret_discovered',
    'gamification.trivia_answered',
    'gamification.item_purchased',
    'gamification.item_used',
  ],
  /** The story reacts to purchases (clues, unlocks) and to VIP status. */
  narrative: [
    'gamification.item_purchased',
    'gamification.item_used',
    'gamification.achievement_unlocked',
    'admin.subscription_started',
    'admin.subscription_expired',
  ],
  /** Administration follows subscriptions, channel membership and auctions. */
  admin: [
    'admin.subscription_started',
    'admin.subscription_expiring',
    'admin.subscription_expired',
    'admin.user_joined_channel',
    'admin.user_left_channel',
    'gamification.auction_won',
  ],
  /** Asynchronous commands (lib/commands runCommand mode 'async'): executed once, result sent to the user. */
  commands: ['system.command_requested'],
  /** Scheduled jobs' triggers (lib/scheduler): the job runs if due. */
  scheduler: ['system.job_due'],
};

const byType = new Map<string, SubscriberName[]>();
for (const type of EVENT_TYPES) {
  byType.set(
    type,
    SUBSCRIBERS.filter((s) => routes[s].includes(type)),
  );
}

/** The subscribers of a type. A type outside the catalogue goes to audit only, which keeps it for inspection. */
export function subscribersFor(type: string): readonly SubscriberName[] {
  return byType.get(type) ?? ['audit'];
}

export function isSubscriber(name: unknown): name is SubscriberName {
  return typeof name === 'string' && (SUBSCRIBERS as readonly string[]).includes(name);
}

export function isRouted(subscriber: SubscriberName, type: string): boolean {
  return isEventType(type) ? routes[subscriber].includes(type) : subscriber === 'audit';
}
