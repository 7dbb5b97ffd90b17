import { afterAll, inject } from 'vitest';
import { createApp, type App, type AppOverrides } from '../../lib/app.js';
import type { WebhookResponse } from '../../lib/webhook/handle.js';
import { parseConfig } from '../../lib/config.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { silentLogger } from '../../lib/log.js';
import { parseCatalogue } from '../../lib/gamification/content.js';

/** Other modules' end-to-end tests assert exact balances: no missions or achievements pay into them. */
const noGamification = parseCatalogue({});
import { BotApiStub } from './bot-api-stub.js';
import { testDatabaseUrl } from './db.js';

export const TEST_TOKEN = '123456:TEST-token-for-the-local-bot-api-stub';
export const TEST_SECRET = 'test-webhook-secret';

export interface TestApp {
  app: App;
  telegram: BotApiStub;
  /** POSTs an update to the webhook handler the way Telegram does (and runs a webhook reply on the stub, as Telegram would). */
  post(update: unknown, secret?: string | null): Promise<WebhookResponse>;
  /**
   * Runs what the updates left behind: events relayed in-process, then the subscribers' own events
   * (`rounds` times), then, unless `jobs` is false, the scheduled jobs that are due (notices).
   */
  settle(opts?: { rounds?: number; jobs?: boolean }): Promise<void>;
}

/** The production app wired to the test database and a local Bot API stub. */
export async function startTestApp(env: Record<string, string> = {}, overrides: AppOverrides = {}): Promise<TestApp> {
  const telegram = await new BotApiStub().start();
  const config = parseConfig({
    DIANABOT_MODE: 'test',
    DATABASE_URL: testDatabaseUrl(),
    TELEGRAM_BOT_TOKEN: TEST_TOKEN,
    TELEGRAM_WEBHOOK_SECRET: TEST_SECRET,
    TELEGRAM_API_ROOT: telegram.url,
    BOT_USERNAME: 'DianaTestBot',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const app = await createApp(config, { kv: createMemoryStore(), log: silentLogger, gamificationCatalogue: () => noGamification, ...overrides });
  afterAll(async () => {
    await app.close();
    await telegram.stop();
  });
  return {
    app,
    telegram,
    post: async (update, secret = TEST_SECRET) => {
      const res = await app.webhook({
        method: 'POST',
        headers: secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret },
        body: typeof update === 'string' ? update : JSON.stringify(update),
      });
      telegram.webhookReply(res);
      return res;
    },
    settle: async ({ rounds = 3, jobs = true } = {}) => {
      for (let i = 0; i < rounds; i++) {
        await app.bus.idle();
        await app.bus.sweep();
      }
      if (jobs) await app.scheduler.sweep();
    },
  };
}

export { callbackUpdate, nextUpdateId, preCheckoutUpdate, subscriptionUpdate, successfulPaymentUpdate, textUpdate } from './updates.js';
