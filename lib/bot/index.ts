import { trackingDb, writtenEventsCollector } from '../bus/written.js';
import type postgres from 'postgres';
import { Context, Telegraf } from 'telegraf';
import type { Update, UserFromGetMe } from 'telegraf/types';
import { DEV_PSEUDONYM_SECRET } from '../config.js';
import { createRateLimiter, type RateDecision } from '../ratelimit/index.js';
import { personPseudonym } from '../users/pseudonym.js';
import { AccountErased, NotRegistered } from '../users/errors.js';
import { registerUser, type UserRecord } from '../users/registration.js';
import { SessionStore } from '../users/session.js';
import { claimAndLoadUserState, loadUserState, type LoadOptions, type UserState } from '../users/state.js';
import type { BotContext, BotDeps } from './context.js';
import { userMessageFor } from './errors.js';
import { fallbackFeature } from './features/conversation.js';
import { features } from './features/index.js';
import { es } from './messages.js';
import { vipMessages } from './messages-vip.js';
import { withReplyConventions } from './reply.js';
import { withTelegramRetries, type RetryPolicy } from './telegram-retry.js';
import { withLeanTransport } from '../telegram/transport.js';

export interface CreateBotOptions {
  token: string;
  apiRoot: string;
  /** Known bot identity: saves the getMe round trip on a cold start. */
  botInfo?: UserFromGetMe;
  retryPolicy?: RetryPolicy;
  /** 'full' (default): the user's state in one statement; 'register-only': the foundation's upsert (benchmark baseline). */
  stateLoad?: 'full' | 'register-only';
  /** Per-user rate limits (default on; off only for the benchmark baseline). */
  rateLimit?: boolean;
  /** JSON Bot API calls over node:http instead of telegraf's node-fetch (lib/telegram/transport.ts; default on, off only to measure it). */
  leanTransport?: boolean;
}

/** Banned users: no effect, and at most one short notice (remembered in the key-value store). */
async function bannedNotice(ctx: BotContext, person: string): Promise<void> {
  // A payment waits for this answer (10 s): refuse it at once, whatever notices were given before.
  if (ctx.preCheckoutQuery) return void (await ctx.answerPreCheckoutQuery(false, vipMessages.preCheckoutRefused.banned!));
  const canTell = Boolean(ctx.callbackQuery) || ctx.chat?.type === 'private';
  const first =
    canTell &&
    (await ctx.deps.kv.set(`ban:${person}`, '1', { onlyIfAbsent: true, ttlSeconds: 30 * 86_400 }).catch(() => false));
  if (ctx.callbackQuery) await ctx.answerCbQuery(first ? ctx.t.banned() : undefined);
  else if (first) await ctx.reply(ctx.t.banned());
}

export type Bot = Telegraf<BotContext>;

/** What the first middleware would load for an update: the sender and the state-load options. */
type StateRequest = { from: NonNullable<Context['from']>; opts: LoadOptions };
const stateRequests = new WeakMap<Bot, (update: Update) => StateRequest | null>();
/** States loaded by the webhook's claim statement, by update object: the middleware uses them as they are. */
const preloaded = new WeakMap<object, { state: UserState; person: string; attempts?: number }>();

/**
 * Claims an update in the inbox and loads its sender's state in one statement (issue 18: one round
 * trip fewer on every update with a sender). Returns null when the bot would load no state for this
 * update (no sender, a bot, the register-only benchmark variant): the caller claims it on its own.
 * Otherwise the claim's row (undefined: not claimed); the state, when found, is handed to the
 * middleware, which loads it itself when not (an erased person, a first-insert race).
 */
export function claimWithUserState<C extends object>(
  bot: Bot,
  update: Update,
  claim: postgres.PendingQuery<postgres.Row[]>,
): Promise<C | undefined> | null {
  const request = stateRequests.get(bot)?.(update);
  if (!request) return null;
  return claimAndLoadUserState<C>(bot.context.deps!.db, claim, request.from, request.opts).then(({ claim, state }) => {
    const attempts = (claim as { attempts?: unknown } | undefined)?.attempts;
    if (state) preloaded.set(update, { state, person: request.opts.person!, attempts: typeof attempts === 'number' ? attempts : undefined });
    return claim;
  });
}

/**
 * Webhook reply (issue 18): the answer to an update's own callback query travels in the webhook's
 * HTTP response (Telegram runs one method given there) instead of a request of its own. The webhook
 * `accept`s an update before handling it and `take`s the answer after the effects are committed.
 *
 * Semantics: the spinner answer (and its notice or alert) is shown after the update's effects are
 * durable, as Telegram executes it on receiving the 200; a later answer of the same update replaces an
 * earlier one (only one can be sent); it can't fail the update (a stale query id is refused silently,
 * as it would expire anyway); a failed update (503, or kept as failed) sends none, and its redelivery
 * answers again. Answers to other queries, and every other method, go as requests as before.
 */
const replySlots = new WeakMap<object, { payload?: Record<string, unknown> }>();
export const callbackWebhookReply = {
  accept(update: object): void {
    replySlots.set(update, {});
  },
  /** The method call to put in the webhook response, if the update answered its callback query. */
  take(update: object): Record<string, unknown> | undefined {
    const slot = replySlots.get(update);
    replySlots.delete(update);
    return slot?.payload;
  },
};

function answerInWebhookReply(telegram: Context['telegram'], queryId: string, slot: { payload?: Record<string, unknown> }): void {
  const call = telegram.callApi.bind(telegram) as (method: string, payload?: unknown, opts?: unknown) => Promise<unknown>;
  telegram.callApi = ((method: string, payload: Record<string, unknown> = {}, opts?: unknown) => {
    if (method !== 'answerCallbackQuery' || payload.callback_query_id !== queryId) return call(method, payload, opts);
    slot.payload = { method, ...payload };
    return Promise.resolve(true);
  }) as typeof telegram.callApi;
}

/** The bot: one Composer per feature over shared middleware (registration, errors, retries). */
export function createBot(deps: BotDeps, opts: CreateBotOptions): Bot {
  const bot = new Telegraf<BotContext>(opts.token, {
    telegram: { apiRoot: opts.apiRoot, webhookReply: false },
    handlerTimeout: 50_000,
  });
  if (opts.botInfo) bot.botInfo = opts.botInfo;
  bot.context.deps = deps;
  bot.context.t = es;
  // Errors go back to the webhook handler, which decides between retry and acknowledgement.
  bot.catch((err) => {
    throw err;
  });

  const limits = deps.settings.rateLimit ?? { messages: 20, callbacks: 30, windowSeconds: 60 };
  const windowSeconds = limits.windowSeconds;
  const limiter = createRateLimiter(deps.kv, limits, deps.log);
  bot.context.sessions = new SessionStore(deps.kv, { now: () => deps.clock().getTime() });
  const stateLoad = opts.stateLoad ?? 'full';
  const rateLimitOn = opts.rateLimit ?? true;
  const pseudonymOf = (telegramId: number) => personPseudonym(deps.settings.pseudonymSecret ?? DEV_PSEUDONYM_SECRET, telegramId);
  const loadOptions = (update: Update, person: string, buttonPress: boolean): LoadOptions => ({
    timeZone: deps.settings.timeZone,
    now: deps.clock(),
    person,
    updateId: update.update_id,
    // An old button pressed after /borrar (a second tap on "Sí, borrar todo") registers nobody.
    buttonPress,
    // Reacting in a group is not talking to the bot: no account for someone who never wrote to it.
    registerNew: !('message_reaction' in update),
  });
  if (stateLoad === 'full') {
    stateRequests.set(bot, (update) => {
      // The same sender the middleware sees (telegraf's ctx.from); a Context costs no I/O.
      const ctx = new Context(update, bot.telegram, bot.botInfo!);
      const from = ctx.from;
      if (!from || from.is_bot) return null;
      return { from, opts: loadOptions(update, pseudonymOf(from.id), Boolean(ctx.callbackQuery)) };
    });
  }

  const leanTransport = opts.leanTransport ?? true;
  bot.use(async (ctx, next) => {
    // The update's own database handle: the outbox writers note on it what the after-commit relay publishes.
    const written = writtenEventsCollector(ctx.update);
    if (written) ctx.deps = { ...deps, db: trackingDb(deps.db, written) };
    if (leanTransport) withLeanTransport(ctx.telegram);
    const replySlot = ctx.callbackQuery ? replySlots.get(ctx.update) : undefined;
    if (replySlot) answerInWebhookReply(ctx.telegram, ctx.callbackQuery!.id, replySlot);
    withTelegramRetries(ctx.telegram, opts.retryPolicy);
    withReplyConventions(ctx.telegram, deps.log);
    ctx.state.requestKey = `update:${ctx.update.update_id}`;
    const from = ctx.from;
    if (from && !from.is_bot) {
      // Per-person limits (rate limits, one daily gift) are keyed by the pseudonym, never by the
      // Telegram id: they hold no personal data, so they outlive /borrar.
      const pre = preloaded.get(ctx.update);
      if (pre) preloaded.delete(ctx.update);
      const person = pre?.person ?? pseudonymOf(from.id);
      ctx.state.person = person;
      if (pre?.attempts !== undefined) ctx.state.deliveryAttempt = pre.attempts;
      // Messages and button presses have their own budgets; other updates (payments, reactions,
      // membership changes) are never throttled. The limiter and the state load run concurrently.
      const budget = ctx.callbackQuery ? 'callback' : ctx.message || ctx.editedMessage ? 'message' : null;
      let state: UserRecord;
      let decision: RateDecision | null;
      try {
        [state, decision] = await Promise.all([
          pre
            ? pre.state
            : stateLoad === 'full'
              ? loadUserState(ctx.deps.db, from, loadOptions(ctx.update, person, Boolean(ctx.callbackQuery)))
              : registerUser(ctx.deps.db, from),
          budget && rateLimitOn ? limiter.check(budget, person) : null,
        ]);
      } catch (err) {
        if (!(err instanceof AccountErased) && !(err instanceof NotRegistered)) throw err;
        // Nobody to act for (erased, or a reaction of someone without an account): no effect, no message.
        if (ctx.callbackQuery) await ctx.answerCbQuery(ctx.t.buttonWithoutAccount()).catch(() => {});
        return;
      }
      ctx.state.user = state;
      if (stateLoad === 'full') ctx.state.userState = state as UserState;
      if (state.status === 'banned') return bannedNotice(ctx, person);
      if (decision && !decision.allowed) {
        if (ctx.callbackQuery) await ctx.answerCbQuery(decision.notify ? ctx.t.rateLimited(windowSeconds) : undefined);
        else if (decision.notify && ctx.chat) await ctx.reply(ctx.t.rateLimited(windowSeconds));
        return;
      }
    }
    try {
      await next();
    } catch (err) {
      // /borrar committed while this update was being handled: it writes nothing and says nothing.
      if (err instanceof AccountErased) {
        if (ctx.callbackQuery) await ctx.answerCbQuery(ctx.t.buttonWithoutAccount()).catch(() => {});
        return;
      }
      const message = userMessageFor(ctx, err);
      if (message === null) throw err;
      if (ctx.callbackQuery) await ctx.answerCbQuery(message, { show_alert: true });
      else if (ctx.chat) await ctx.reply(message);
    }
  });

  for (const feature of features) bot.use(feature);

  // Text nobody handled, in a private chat: an unknown command is said so, other text gets a hint.
  bot.use(fallbackFeature);
  // A button of an old or removed feature: stop the spinner.
  bot.on('callback_query', (ctx) => ctx.answerCbQuery());
  return bot;
}
