import type { Context } from 'telegraf';
import type { Sql } from '../db/client.js';
import type { KeyValueStore } from '../kv/types.js';
import type { Logger } from '../log.js';
import type { StoryContent } from '../narrative/index.js';
import type { CatalogueSource } from '../gamification/index.js';
import type { VipSettings } from '../admin/index.js';
import type { Clock } from '../time/zone.js';
import type { UserRecord } from '../users/registration.js';
import type { SessionStore } from '../users/session.js';
import type { UserState } from '../users/state.js';
import type { Messages } from './messages.js';

export interface BotSettings {
  timeZone: string;
  dailyAmount: number;
  adminTelegramIds: number[];
  /** Per-user budgets (RATE_LIMIT_*); defaults 20 messages / 30 button presses per 60 s. */
  rateLimit?: { messages: number; callbacks: number; windowSeconds: number; timeoutMs?: number; localPercent?: number };
  /** Key of the abuse-prevention pseudonym (PSEUDONYM_SECRET; lib/users/pseudonym.ts). */
  pseudonymSecret?: string;
  /** How long the "Deshacer" button of an undoable command works (default 60 s). */
  undoWindowSeconds?: number;
  /** VIP plans, invoice signing key and VIP channel (lib/admin). */
  vip?: VipSettings;
}

/** Everything a feature needs, passed in (no feature reads process.env or opens connections). */
export interface BotDeps {
  db: Sql;
  kv: KeyValueStore;
  clock: Clock;
  log: Logger;
  settings: BotSettings;
  /** The active story content (lib/narrative), cached by the instance. */
  story: StoryContent;
  /** Missions, achievements and items of a content version (default: the story's versions). */
  catalogue?: CatalogueSource;
  /** false: commands never take their one-statement path (CommandDef.oneStatement; a benchmark's same-run "without"). */
  oneStatementCommands?: boolean;
}

export interface BotState {
  /** The registered user, when the update has a `from` that is not a bot. */
  user?: UserRecord;
  /** The user's full state (balance, streak, provider sections), loaded once per update. */
  userState?: UserState;
  /** The sender's abuse-prevention pseudonym: the key of per-person limits that outlive /borrar. */
  person?: string;
  /** Base of every idempotency key derived from this update (update:<update_id>). */
  requestKey: string;
  /**
   * Which delivery of this update this is (1 = the first), when the webhook's claim statement loaded
   * the state; unknown otherwise. A first delivery can't have done anything before (issue 18: /daily
   * answers "already claimed" from the loaded state only then).
   */
  deliveryAttempt?: number;
}

export interface BotContext extends Context {
  deps: BotDeps;
  t: Messages;
  state: BotState;
  /** Conversation state per (chat, user), compare-and-set on the key-value store. */
  sessions: SessionStore;
}
