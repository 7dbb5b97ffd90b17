import type { Context } from 'telegraf';
import type { Sql } from '../db/client.js';
import type { KeyValueStore } from '../kv/types.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/zone.js';
import type { UserRecord } from '../users/registration.js';
import type { Messages } from './messages.js';

export interface BotSettings {
  timeZone: string;
  dailyAmount: number;
  adminTelegramIds: number[];
}

/** Everything a feature needs, passed in (no feature reads process.env or opens connections). */
export interface BotDeps {
  db: Sql;
  kv: KeyValueStore;
  clock: Clock;
  log: Logger;
  settings: BotSettings;
}

export interface BotState {
  /** The registered user, when the update has a `from` that is not a bot. */
  user?: UserRecord;
  /** Base of every idempotency key derived from this update (update:<update_id>). */
  requestKey: string;
}

export interface BotContext extends Context {
  deps: BotDeps;
  t: Messages;
  state: BotState;
}
