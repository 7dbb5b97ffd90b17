import { Telegram } from 'telegraf';
import type { Update, UserFromGetMe } from 'telegraf/types';
import type { Config } from './config.js';
import { getConfig } from './config.js';
import { createDb, type Sql } from './db/client.js';
import { createKeyValueStore, type KeyValueStore } from './kv/index.js';
import { createLogger, type Logger } from './log.js';
import { systemClock, type Clock } from './time/zone.js';
import { callbackWebhookReply, claimWithUserState, createBot, type Bot } from './bot/index.js';
import { keyboardCloseJob } from './bot/keyboard.js';
import { giftSummaryJob } from './bot/gift-pacing.js';
import { reactionRefreshJob } from './bot/features/reacciones.js';
import { withReplyConventions } from './bot/reply.js';
import { withTelegramRetries, type RetryPolicy } from './bot/telegram-retry.js';
import { withLeanTransport } from './telegram/transport.js';
import { personPseudonym } from './users/pseudonym.js';
import { createInboxCompleter } from './webhook/completion.js';
import { setEconomyTimeZone } from './besitos/policy.js';
import { handleTelegramWebhook, type WebhookDeps, type WebhookRequest, type WebhookResponse } from './webhook/handle.js';
import { invoiceKey, plansFrom, publishPostJob, vipJobKinds } from './admin/index.js';
import { createBus, fromHandlers, type Bus, type BusOverrides, type SubscriberHandler } from './bus/index.js';
import type { SubscriberName } from './bus/subscriptions.js';
import { createCommandResultNotifier } from './bot/command-results.js';
import { createCommandsSubscriber } from './commands/subscriber.js';
import { auctionEndJob, auctionNoticeJob } from './gamification/auctions/index.js';
import { createGamificationSubscriber, fixedCatalogue, noticeJob, rankingRebuildJob, rankingRebuildScheduler, versionedCatalogue, type CatalogueIndex, type CatalogueSource } from './gamification/index.js';
import { narrativeSubscriber } from './narrative/subscriber.js';
import { versionedStoryContent, type StoryContent } from './narrative/index.js';
import { registerNarrativeProvider } from './narrative/provider.js';
import { ContentCache, createContentStore, type ContentStore } from './content/index.js';
import { createScheduler, jobHandlers, type JobHandler, type RunnerDeps, type Scheduler } from './scheduler/index.js';
import { createSchedulerSubscriber } from './scheduler/subscriber.js';
import { dailyMaintenance, maintenanceScheduler } from './maintenance/index.js';
import { anomalyJob, anomalyScheduler } from './economy/anomalies.js';
import { registerGrantProof } from './economy/repository.js';

/**
 * Job kinds of the modules (lib/scheduler): each module exports its JobHandler(s) and lists them here,
 * as it registers state providers and subscribers. Registered once per process.
 */
// A reaction grant is proven by its reactions row (lib/gamification/reactions.ts), for the anomaly job.
registerGrantProof('reaction', (db) => db`EXISTS (SELECT 1 FROM reactions r WHERE r.transaction_id = t.id)`);

const jobKinds: JobHandler<any>[] = [dailyMaintenance, keyboardCloseJob, giftSummaryJob as JobHandler<any>, reactionRefreshJob as JobHandler<any>, noticeJob, auctionEndJob as JobHandler<any>, auctionNoticeJob as JobHandler<any>, ...vipJobKinds, publishPostJob as JobHandler<any>, anomalyJob as JobHandler<any>, rankingRebuildJob as JobHandler<any>];

export interface App {
  config: Config;
  db: Sql;
  kv: KeyValueStore;
  log: Logger;
  clock: Clock;
  bot: Bot;
  /** Event bus: outbox relay, QStash deliveries (api/events/*), cron sweep (api/cron/relay). */
  bus: Bus;
  /** Scheduled jobs (lib/scheduler): cron sweep (api/cron/jobs), QStash triggers, in-process timer. */
  scheduler: Scheduler;
  webhook(req: WebhookRequest): Promise<WebhookResponse>;
  close(): Promise<void>;
}

export interface AppOverrides {
  db?: Sql;
  kv?: KeyValueStore;
  clock?: Clock;
  log?: Logger;
  retryPolicy?: RetryPolicy;
  bus?: BusOverrides;
  /** The story the bot plays (default: the active published version, lib/content). */
  story?: StoryContent;
  /** The gamification catalogue (default: the active content version's); tests of other modules pass an empty one. */
  gamificationCatalogue?: () => CatalogueIndex;
  scheduler?: Partial<Pick<RunnerDeps, 'handlers' | 'leaseSeconds' | 'batchSize' | 'concurrency' | 'beforeRun'>>;
  /** Webhook internals a benchmark switches off to measure a change in the same run (bench/webhook.ts BENCH_VARIANT_OFF). */
  webhook?: Partial<Pick<WebhookDeps, 'claimWithState' | 'complete' | 'webhookReply'>>;
  /** false: Bot API calls through telegraf's own client (a benchmark's same-run "without"; lib/telegram/transport.ts). */
  leanTelegramTransport?: boolean;
  /** false: commands take the transaction protocol only (CommandDef.oneStatement off; a benchmark's same-run "without"). */
  oneStatementCommands?: boolean;
}

/**
 * The modules' reactions to bus events, wired into the bus here as state providers are into the user
 * state: lib/bus routes and delivers and knows no module. Audit is the bus's own subscriber.
 */
export function moduleSubscribers(deps: {
  telegram: Telegram;
  kv?: KeyValueStore;
  scheduler?: Scheduler;
  clock?: Clock;
  catalogue: CatalogueSource;
}): Record<Exclude<SubscriberName, 'audit'>, SubscriberHandler> {
  return {
    commands: createCommandsSubscriber(createCommandResultNotifier(deps)),
    gamification: createGamificationSubscriber({ clock: deps.clock, catalogue: deps.catalogue, kv: deps.kv }),
    narrative: narrativeSubscriber,
    // Administration's reactions (subscriptions, channels, auctions) arrive with the admin module.
    admin: fromHandlers({}),
    scheduler: deps.scheduler ? createSchedulerSubscriber(deps.scheduler) : unwiredScheduler,
  };
}

/** Without a scheduler (bare bus setups in tests) a trigger is refused, so that it is retried rather than lost. */
const unwiredScheduler: SubscriberHandler = Object.assign(async () => {}, {
  prepare: async () => {
    throw new Error('no scheduler wired');
  },
});

function botInfoFrom(config: Config): UserFromGetMe | undefined {
  if (!config.BOT_USERNAME || !config.TELEGRAM_BOT_TOKEN) return undefined;
  return {
    id: Number(config.TELEGRAM_BOT_TOKEN.split(':')[0]),
    is_bot: true,
    first_name: 'DianaBot',
    username: config.BOT_USERNAME,
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
  } as UserFromGetMe;
}

/** Wires the services from configuration; overrides let tests and the dev server plug in their own. */
export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  if (!config.DATABASE_URL && !overrides.db) throw new Error('DATABASE_URL is required');
  if (!config.TELEGRAM_BOT_TOKEN) throw new Error('TELEGRAM_BOT_TOKEN is required');
  if (!config.TELEGRAM_WEBHOOK_SECRET) throw new Error('TELEGRAM_WEBHOOK_SECRET is required');
  const log = overrides.log ?? createLogger(config.LOG_LEVEL);
  setEconomyTimeZone(config.timeZone); // the days and weeks of the caps (lib/besitos/policy.ts)
  const db = overrides.db ?? createDb(config.DATABASE_URL!, { max: config.DATABASE_POOL_MAX });
  const kv = overrides.kv ?? (await createKeyValueStore(config));
  const clock = overrides.clock ?? systemClock;
  // Modules' sections of the user state (/perfil, /exportar) and their part of /borrar.
  registerNarrativeProvider();
  // The content store is opened on the first story update, not at start-up (cold starts of other updates pay nothing).
  let contentStore: Promise<ContentStore> | undefined;
  let contentCache: Promise<ContentCache> | undefined;
  const story =
    overrides.story ??
    versionedStoryContent(() => {
      contentCache ??= (contentStore ??= createContentStore(config, db)).then((s) => new ContentCache(db, s));
      contentCache.catch(() => {
        contentCache = contentStore = undefined;
      });
      return contentCache;
    });
  // Missions, achievements and items: the same content versions as the story.
  const catalogue = overrides.gamificationCatalogue ? fixedCatalogue(overrides.gamificationCatalogue) : versionedCatalogue(story);
  const bot = createBot(
    {
      db,
      kv,
      clock,
      log,
      story,
      catalogue,
      oneStatementCommands: overrides.oneStatementCommands,
      settings: {
        timeZone: config.timeZone,
        dailyAmount: config.DAILY_GIFT_AMOUNT,
        adminTelegramIds: config.ADMIN_USER_IDS,
        rateLimit: {
          messages: config.RATE_LIMIT_MESSAGES,
          callbacks: config.RATE_LIMIT_CALLBACKS,
          windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS,
          timeoutMs: config.RATE_LIMIT_TIMEOUT_MS,
          localPercent: config.RATE_LIMIT_LOCAL_PERCENT,
        },
        undoWindowSeconds: config.UNDO_WINDOW_SECONDS,
        pseudonymSecret: config.pseudonymSecret,
        vip: {
          plans: plansFrom({ monthlyStars: config.VIP_MONTHLY_STARS, passStars: config.VIP_PASS_STARS }),
          invoiceKey: invoiceKey(config.TELEGRAM_BOT_TOKEN),
        },
      },
    },
    { token: config.TELEGRAM_BOT_TOKEN, apiRoot: config.TELEGRAM_API_ROOT, botInfo: botInfoFrom(config), retryPolicy: overrides.retryPolicy, leanTransport: overrides.leanTelegramTransport },
  );
  const secret = config.TELEGRAM_WEBHOOK_SECRET;
  // Subscribers that answer users (async commands) send through their own client, with the bot's retry policy.
  // telegraf is already loaded for the bot: constructing a client costs no request and no import.
  const telegram = new Telegram(config.TELEGRAM_BOT_TOKEN, { apiRoot: config.TELEGRAM_API_ROOT, webhookReply: false });
  if (overrides.leanTelegramTransport ?? true) withLeanTransport(telegram);
  withTelegramRetries(telegram, overrides.retryPolicy);
  withReplyConventions(telegram, log);
  for (const kind of jobKinds) jobHandlers.ensure(kind);
  const scheduler = createScheduler(
    {
      db,
      log,
      clock,
      timeZone: config.timeZone,
      telegram,
      kv,
      concurrency: Math.max(1, Math.min(4, config.DATABASE_POOL_MAX - 2)),
      ...overrides.scheduler,
    },
    // In-process delivery hands a trigger over at once: re-arming an early one would loop.
    { rearmTriggers: () => bus.mode === 'qstash', beforeSweep: recurringJobs(
        maintenanceScheduler(config.timeZone),
        // The boards' hourly check heals a shared store (Redis/Upstash) that outlives processes; the
        // in-memory store starts empty with each process and is built by the first read.
        ...(kv.kind === 'memory' ? [] : [rankingRebuildScheduler()]),
        // Anomaly flags are for admins: detected when someone can see them (a chat to tell, or the panel's API).
        ...(config.ADMIN_USER_IDS.length > 0 || config.ADMIN_API_TOKEN ? [anomalyScheduler(config.ADMIN_USER_IDS)] : []),
      ) },
  );
  const bus = createBus(config, { db, log, clock, timeZone: config.timeZone, subscribers: moduleSubscribers({ telegram, kv, scheduler, clock, catalogue }) }, overrides.bus);
  // QStash mode: the update's completion also claims its events for the after-commit relay (issue 18).
  const complete = createInboxCompleter(db, bus.claimAfterCommit);
  // Long-running servers sweep the outbox and run due jobs themselves; Vercel uses api/cron/relay and api/cron/jobs.
  if (config.DIANABOT_MODE === 'start' || config.DIANABOT_MODE === 'dev') {
    bus.startSweeper();
    scheduler.startTimer();
  }
  return {
    config,
    db,
    kv,
    log,
    clock,
    bot,
    bus,
    scheduler,
    webhook: (req) =>
      handleTelegramWebhook(
        {
          db,
          bot,
          secret,
          maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
          log,
          afterCommit: bus.afterCommit,
          pseudonym: (id) => personPseudonym(config.pseudonymSecret, id),
          claimWithState: (update, claim) => claimWithUserState(bot, update as unknown as Update, claim),
          complete,
          webhookReply: callbackWebhookReply,
          ...overrides.webhook,
        },
        req,
      ),
    async close() {
      await scheduler.close();
      await bus.close();
      await contentStore?.then((s) => s.close?.(), () => undefined);
      if (!overrides.db) await db.end({ timeout: 5 });
      if (!overrides.kv) await kv.close?.();
    },
  };
}

/** Recurring jobs scheduled before each sweep (each remembers its period, so this costs nothing most sweeps). */
function recurringJobs(...schedulers: ((db: Sql, now: Date) => Promise<void>)[]) {
  return async (db: Sql, now: Date): Promise<void> => {
    for (const s of schedulers) await s(db, now);
  };
}

let shared: Promise<App> | undefined;

/** The process-wide app for api/* handlers, created on first use and reused while the instance lives. */
export function getApp(): Promise<App> {
  shared ??= createApp(getConfig()).catch((err) => {
    shared = undefined;
    throw err;
  });
  return shared;
}

/** For the dev server: use an app it built itself. */
export function setApp(app: App): void {
  shared = Promise.resolve(app);
}
