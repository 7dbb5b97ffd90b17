import { Telegraf } from 'telegraf';
import type { UserFromGetMe } from 'telegraf/types';
import { createRateLimiter } from '../ratelimit/index.js';
import { registerUser } from '../users/registration.js';
import { SessionStore } from '../users/session.js';
import { loadUserState, type UserState } from '../users/state.js';
import type { BotContext, BotDeps } from './context.js';
import { userMessageFor } from './errors.js';
import { fallbackFeature } from './features/conversation.js';
import { features } from './features/index.js';
import { es } from './messages.js';
import { vipMessages } from './messages-vip.js';
import { withReplyConventions } from './reply.js';
import { withTelegramRetries, type RetryPolicy } from './telegram-retry.js';

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
}

/** Banned users: no effect, and at most one short notice (remembered in the key-value store). */
async function bannedNotice(ctx: BotContext, telegramId: number): Promise<void> {
  // A payment waits for this answer (10 s): refuse it at once, whatever notices were given before.
  if (ctx.preCheckoutQuery) return void (await ctx.answerPreCheckoutQuery(false, vipMessages.preCheckoutRefused.banned!));
  const canTell = Boolean(ctx.callbackQuery) || ctx.chat?.type === 'private';
  const first =
    canTell &&
    (await ctx.deps.kv.set(`ban:${telegramId}`, '1', { onlyIfAbsent: true, ttlSeconds: 30 * 86_400 }).catch(() => false));
  if (ctx.callbackQuery) await ctx.answerCbQuery(first ? ctx.t.banned() : undefined);
  else if (first) await ctx.reply(ctx.t.banned());
}

export type Bot = Telegraf<BotContext>;

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

  bot.use(async (ctx, next) => {
    withTelegramRetries(ctx.telegram, opts.retryPolicy);
    withReplyConventions(ctx.telegram, deps.log);
    ctx.state.requestKey = `update:${ctx.update.update_id}`;
    const from = ctx.from;
    if (from && !from.is_bot) {
      // Messages and button presses have their own budgets; other updates (payments, reactions,
      // membership changes) are never throttled. The limiter and the state load run concurrently.
      const budget = ctx.callbackQuery ? 'callback' : ctx.message || ctx.editedMessage ? 'message' : null;
      const [state, decision] = await Promise.all([
        stateLoad === 'full'
          ? loadUserState(deps.db, from, { timeZone: deps.settings.timeZone, now: deps.clock() })
          : registerUser(deps.db, from),
        budget && rateLimitOn ? limiter.check(budget, from.id) : null,
      ]);
      ctx.state.user = state;
      if (stateLoad === 'full') ctx.state.userState = state as UserState;
      if (state.status === 'banned') return bannedNotice(ctx, from.id);
      if (decision && !decision.allowed) {
        if (ctx.callbackQuery) await ctx.answerCbQuery(decision.notify ? ctx.t.rateLimited(windowSeconds) : undefined);
        else if (decision.notify && ctx.chat) await ctx.reply(ctx.t.rateLimited(windowSeconds));
        return;
      }
    }
    try {
      await next();
    } catch (err) {
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
