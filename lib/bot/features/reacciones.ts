import { Composer } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { findPost, postMarkup, type PostRow } from '../../admin/index.js';
import { capReachedText } from '../../besitos/policy.js';
import { react, reactionCount, reactionBesitos, type ReactionResult } from '../../gamification/index.js';
import { schedule, type JobHandler } from '../../scheduler/index.js';
import type { BotContext } from '../context.js';
import { isTransientTelegramError } from '../telegram-retry.js';

/**
 * Reaction rewards (issue 23). Two ways in, one rule (lib/gamification/reactions.ts):
 * - the ❤️ button under the bot's own channel and group posts (lib/admin/posts.ts): a press reacts,
 *   a second press takes the reaction back, a third puts it on again; the callback notice says what it
 *   earned. The button shows the live count, edited at most once per EDIT_EVERY_SECONDS per post plus
 *   one trailing edit (a `reaction.refresh` job at the end of the slot, rendered from the table when it
 *   runs), so a popular post stays within Telegram's edit limits.
 * - `message_reaction` updates (sent only where the bot is a group administrator and only when listed
 *   in allowed_updates): a reaction added to a group message pays, taken back does nothing, a changed
 *   emoji is still one reaction. No message is sent (a group would drown in them): the reward shows in
 *   /historial. Anonymous `message_reaction_count` updates name nobody: acknowledged, no effect.
 */
export const EDIT_EVERY_SECONDS = 10;

export const reaccionesFeature = new Composer<BotContext>();

reaccionesFeature.action(/^rx:(\d{1,15})$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  const message = ctx.callbackQuery.message;
  const post = await findPost(ctx.deps.db, Number(ctx.match[1]));
  // Only the button of the post it belongs to (callback data can be forged for another message).
  if (!post || post.status !== 'published' || !message || message.chat.id !== post.chat_id || message.message_id !== post.message_id) {
    return void (await ctx.answerCbQuery(ctx.t.reactionNotHere(), { show_alert: true }));
  }
  const r = await react(ctx.deps.db, {
    userId: me.id,
    person: ctx.state.person ?? null,
    target: { kind: 'post', postId: post.id },
    want: 'toggle',
    now: ctx.deps.clock(),
    timeZone: ctx.deps.settings.timeZone,
  });
  await ctx.answerCbQuery(notice(ctx, r), r.outcome === 'capped' ? { show_alert: true } : undefined).catch((err) => {
    if (isTransientTelegramError(err)) throw err;
    ctx.deps.log.info({ msg: 'reaction: answer refused', error: String(err) });
  });
  if (r.outcome !== 'unchanged') await showCount(ctx, post, r.count);
});

function notice(ctx: Pick<BotContext, 't' | 'deps'>, r: ReactionResult): string {
  switch (r.outcome) {
    case 'rewarded':
      return ctx.t.reactionRewarded(reactionBesitos(), r.balance ?? 0);
    case 'capped':
      return ctx.t.reactionCapped(r.cap ? capReachedText(r.cap, ctx.deps.settings.timeZone, ctx.deps.clock()) : '');
    case 'again':
      return ctx.t.reactionAgain();
    case 'removed':
      return ctx.t.reactionRemoved();
    default:
      return ctx.t.reactionAgain();
  }
}

const slotOf = (now: Date) => Math.floor(now.getTime() / (EDIT_EVERY_SECONDS * 1000));

/** The live count on the button: now if this slot has not edited the post yet, else at the slot's end. */
async function showCount(ctx: Pick<BotContext, 'deps' | 'telegram'>, post: PostRow, count: number): Promise<void> {
  const slot = slotOf(ctx.deps.clock());
  const first = await ctx.deps.kv
    .set(`rx:edit:${post.id}:${slot}`, '1', { ttlSeconds: EDIT_EVERY_SECONDS * 3, onlyIfAbsent: true })
    .catch(() => false); // the store is down: leave it to the job (one SQL statement, no burst of edits)
  if (first) {
    try {
      await ctx.telegram.editMessageReplyMarkup(post.chat_id, post.message_id!, undefined, postMarkup(post, count));
      return;
    } catch (err) {
      ctx.deps.log.info({ msg: 'reaction: count not edited now, left to the slot job', error: String(err) });
    }
  }
  await schedule(ctx.deps.db, {
    kind: reactionRefreshJob.kind,
    key: `reaction.refresh:${post.id}:${slot}`,
    dueAt: new Date((slot + 1) * EDIT_EVERY_SECONDS * 1000),
    payload: { postId: post.id },
  });
}

/** The trailing edit of a slot: the count as it is when the job runs. */
export const reactionRefreshJob: JobHandler<{ postId: number }> = {
  kind: 'reaction.refresh',
  payload: lazy(() => z.object({ postId: z.number().int().positive() })),
  maxAttempts: 3,
  async run(tx, p, ctx) {
    const post = await findPost(tx, p.postId);
    if (!post || post.status !== 'published' || post.message_id === null || !ctx.telegram) return;
    const count = await reactionCount(tx, { kind: 'post', postId: post.id });
    try {
      await ctx.telegram.editMessageReplyMarkup(post.chat_id, post.message_id, undefined, postMarkup(post, count));
    } catch (err) {
      if (isTransientTelegramError(err)) throw err; // retried by the scheduler
      ctx.log.info({ msg: 'reaction.refresh: not edited', post: post.id, error: String(err) });
    }
  },
};

reaccionesFeature.on('message_reaction', async (ctx) => {
  const me = ctx.state.userState;
  const r = ctx.messageReaction;
  // A reaction on behalf of a chat (anonymous admin) names no person; private chats give nothing.
  if (!me || !r.user || r.user.is_bot || (r.chat.type !== 'group' && r.chat.type !== 'supergroup')) return;
  const had = r.old_reaction.length > 0;
  const has = r.new_reaction.length > 0;
  if (had === has) return; // another emoji: still the same one reaction
  await react(ctx.deps.db, {
    userId: me.id,
    person: ctx.state.person ?? null,
    target: { kind: 'msg', chatId: r.chat.id, messageId: r.message_id },
    want: has ? 'on' : 'off',
    now: ctx.deps.clock(),
    timeZone: ctx.deps.settings.timeZone,
  });
});

// Counts without users (channels): nobody to reward. Handled here so the update is not left to chance.
reaccionesFeature.on('message_reaction_count', () => undefined);
