import type { App } from '../../lib/app.js';
import type { Sql } from '../../lib/db/client.js';
import type { BotApiStub, RecordedCall } from '../support/bot-api-stub.js';

/** What one update costs: SQL statements sent, key-value commands (Redis/Upstash), Bot API requests. */
export interface RoundTrips {
  sql: number;
  kv: number;
  botApi: number;
}

/**
 * One kind of update and the most it may cost. Measured on the production app (Vercel shape: events
 * published to QStash after the commit) for a returning user, after a warm-up; every statement, command
 * and request from the webhook's start to its response counts, the after-commit relay included.
 */
export interface UpdateKind {
  /** The row name in README.md's "Per-update budget" table (the test checks both agree). */
  name: string;
  budget: RoundTrips;
  /** Unmeasured: brings the fresh user `h.tg` (who already sent /start) to where the update makes sense. */
  prepare?(h: BudgetHarness): Promise<void>;
  /** The measured update, as Telegram sends it. */
  update(h: BudgetHarness): unknown | Promise<unknown>;
  /** Checks the update did its job (from the Bot API calls it made), so a budget is never met by failing early. */
  check(h: BudgetHarness, calls: RecordedCall[]): void | Promise<void>;
}

export interface BudgetHarness {
  app: App;
  telegram: BotApiStub;
  /** A pool on the same database, not counted. */
  db: Sql;
  /** The Telegram id of this kind's fresh user. */
  tg: number;
  /** That user's internal id. */
  userId(): Promise<number>;
  /** Another registered user (a gift's receiver …): returns their Telegram id and username. */
  person(name: string): Promise<{ tg: number; id: number; username: string }>;
  /** What prepare() hands to update(): a username, a button's callback data … */
  memo: Record<string, string>;
  /** Unmeasured update. */
  post(update: unknown): Promise<{ status: number; body: string }>;
}
