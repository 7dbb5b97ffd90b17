import { Composer } from 'telegraf';
import { claimedTodayFromState, peekDailyGift, rememberDailyClaim, type DailyDeps, type DailyResult } from '../../besitos/daily.js';
import { runCommand } from '../../commands/index.js';
import { dailyCommand } from '../../commands/daily.js';
import type { BotContext, BotState } from '../context.js';

/** /daily: the daily gift, once per calendar day in the configured zone, with a streak. */
export const dailyFeature = new Composer<BotContext>();

dailyFeature.command(['regalo', 'daily'], (ctx) => claimDaily(ctx));
// The "🎁 Regalo diario" main button (features/conversation.ts): the same claim, keyed by this update.
dailyFeature.action('m:regalo', async (ctx) => {
  await ctx.answerCbQuery();
  await claimDaily(ctx);
});

async function claimDaily(ctx: Pick<BotContext, 'deps' | 't' | 'reply'> & { state: object }): Promise<void> {
  const state = ctx.state as BotState;
  const user = state.user;
  if (!user) return;
  const { db, kv, clock, log, settings } = ctx.deps;
  const deps: DailyDeps = { db, kv, clock, timeZone: settings.timeZone, amount: settings.dailyAmount, log: (l) => log.warn({ msg: 'daily', ...l }) };
  const requestKey = state.requestKey;
  // Already claimed today by another request, per the loaded state or the cache: nothing changes, so no command runs.
  const loaded = state.userState;
  const firstDelivery = state.deliveryAttempt === 1;
  const atOnce = loaded && ctx.deps.oneStatementCommands !== false;
  // On a first delivery the loaded state is as good as the cache (issue 18): "not claimed today" there
  // goes straight to the grant, whose one statement re-checks it.
  let r: DailyResult | null =
    (loaded && claimedTodayFromState(deps, loaded, firstDelivery)) || (atOnce && firstDelivery ? null : await peekDailyGift(deps, user, requestKey));
  if (!r) {
    // The claim the state load read lets the grant go in one statement (issue 18), unless switched off.
    const latest = atOnce ? { day: loaded.lastDailyDay, streak: loaded.streak } : null;
    const command = dailyCommand(deps, state.person ?? null, latest);
    const run = await runCommand(db, command, { userId: user.id, idempotencyKey: requestKey, params: {}, now: clock() });
    r = run.result!;
    await rememberDailyClaim(deps, user, r, requestKey);
  }
  const next = new Date(r.nextClaimAt); // a replayed action's result comes back from JSON
  const text =
    r.status === 'granted'
      ? ctx.t.dailyGranted(r.amount, r.streak, r.balance, next, settings.timeZone, clock())
      : ctx.t.dailyAlready(r.streak, next, settings.timeZone, clock());
  await ctx.reply(text, { parse_mode: 'HTML' });
}
