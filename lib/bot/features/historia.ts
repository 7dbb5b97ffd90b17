import { Composer, Markup } from 'telegraf';
import type { InlineKeyboardButton } from 'telegraf/types';
import { InsufficientFunds } from '../../besitos/errors.js';
import type { ContentIndex, Fragment } from '../../content/index.js';
import { peekStory, playStory, StoryRefused, loadProgress, type Action, type Player, type Refusal, type Screen, type Via } from '../../narrative/index.js';
import type { UserState } from '../../users/state.js';
import type { BotContext } from '../context.js';

/**
 * /historia: the story, one fragment per message with its decisions as buttons.
 *
 * Buttons carry `h:<act>:<user>:<version>:<step>[:<arg>]` — whose screen it is, a prefix of the
 * content version's hash and the step it was drawn at (base 36) — so an old, foreign, forged or
 * other-version press is answered with a short notice and moves nothing. The engine (lib/narrative)
 * checks step and version again under the user's lock: two taps of one button make one choice.
 */
export const historiaFeature = new Composer<BotContext>();

const b36 = (n: number) => n.toString(36);
export const versionTag = (content: ContentIndex) => content.version.hash.slice(0, 8);
const PRESS = /^h:([dcurx]):([0-9a-z]{1,12}):([0-9a-f]{8}):([0-9a-z]{1,8})(?::(c|[0-7]))?$/;

function button(content: ContentIndex, userId: number, step: number, act: string, arg?: string | number): string {
  return ['h', act, b36(userId), versionTag(content), b36(step), ...(arg === undefined ? [] : [String(arg)])].join(':');
}

export function playerOf(me: UserState): Player {
  return { vip: me.status === 'vip', besitos: me.besitos };
}

/** The story content, or a Spanish apology when it cannot be read (the update is acknowledged). */
export async function storyContent(ctx: BotContext): Promise<ContentIndex | null> {
  try {
    return await ctx.deps.story.current(ctx.state.userState?.contentVersion);
  } catch (err) {
    ctx.deps.log.error({ msg: 'story content unavailable', error: String(err) });
    await ctx.reply(ctx.t.storyNothing());
    return null;
  }
}

/** Best effort: an edit of an earlier message must never make the update fail. */
async function quietly(ctx: BotContext, what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    ctx.deps.log.info({ msg: `historia: ${what} refused`, error: String(err) });
  }
}

async function sendMedia(ctx: BotContext, f: Fragment): Promise<void> {
  const m = f.media;
  if (!m) return;
  const source = m.file_id ?? m.url!;
  const extra = m.caption ? { caption: m.caption, parse_mode: 'HTML' as const } : {};
  // A media that Telegram refuses (a dead URL) must not stop the story: the text follows anyway.
  await quietly(ctx, `send ${m.type}`, () =>
    m.type === 'photo' ? ctx.replyWithPhoto(source, extra) : m.type === 'animation' ? ctx.replyWithAnimation(source, extra) : ctx.replyWithVideo(source, extra),
  );
}

function noticeText(ctx: BotContext, s: Screen): string | null {
  const n = s.notice;
  if (!n) return null;
  switch (n.kind) {
    case 'relocated':
      return ctx.t.storyRelocated();
    case 'secret':
      return ctx.t.storySecret();
    case 'premium_paid':
      return ctx.t.storyPremiumPaid(n.price);
    case 'riddle_wrong':
      return ctx.t.storyRiddleWrong(n.hint, n.triesLeft);
  }
}

/** Sends a screen: notice, level intro, media, then the fragment with its buttons. */
export async function sendScreen(ctx: BotContext, content: ContentIndex, userId: number, s: Screen): Promise<void> {
  const notice = noticeText(ctx, s);
  if (s.notice?.kind === 'riddle_wrong') return void (await ctx.reply(notice!, { parse_mode: 'HTML' }));
  if (notice) await ctx.reply(notice, { parse_mode: 'HTML' });
  const f = s.fragment ? content.fragment(s.fragment) : null;
  if (!f) return void (await ctx.reply(ctx.t.storyNothing()));
  if (s.levelIntro !== null) {
    const level = content.level(s.levelIntro);
    if (level) await ctx.reply(ctx.t.storyLevelIntro(level.number, level.title, level.intro), { parse_mode: 'HTML' });
  }
  await sendMedia(ctx, f);
  const rows: InlineKeyboardButton[][] = s.decisions.map((d) => [Markup.button.callback(d.label, button(content, userId, s.step, 'd', d.index))]);
  if (s.canContinue) rows.push([Markup.button.callback(ctx.t.storyContinue(), button(content, userId, s.step, 'c'))]);
  let text = ctx.t.storyFragment(f.narrator, f.text, s.earned);
  if (f.game?.kind === 'riddle') text += `\n\n${f.game.question}\n\n${ctx.t.storyRiddlePrompt()}`;
  if (f.game?.kind === 'dice') {
    if (f.game.prompt) text += `\n\n${f.game.prompt}`;
    rows.push([Markup.button.callback(ctx.t.storyRollDice(f.game.emoji), button(content, userId, s.step, 'r'))]);
  }
  if (s.ending) text += `\n\n${ctx.t.storyEnding()}`;
  await ctx.reply(text, { parse_mode: 'HTML', ...(rows.length ? Markup.inlineKeyboard(rows) : {}) });
}

/** Runs a move; a refusal or a lack of funds is answered here and returns null. */
async function move(ctx: BotContext, content: ContentIndex, me: UserState, action: Action) {
  try {
    return await playStory(ctx.deps.db, content, { userId: me.id, idempotencyKey: `${ctx.state.requestKey}:story`, action, now: ctx.deps.clock(), timeZone: ctx.deps.settings.timeZone });
  } catch (err) {
    if (err instanceof StoryRefused) {
      await refused(ctx, content, me, err.refusal, 'step' in action ? action.step : 0);
      return null;
    }
    if (err instanceof InsufficientFunds) {
      if (ctx.callbackQuery) await ctx.answerCbQuery();
      await ctx.reply(ctx.t.storyNotEnough(err.needed, err.available ?? 0));
      return null;
    }
    throw err;
  }
}

async function refused(ctx: BotContext, content: ContentIndex, me: UserState, r: Refusal, step: number): Promise<void> {
  if (r.refused !== 'locked') {
    if (ctx.callbackQuery) {
      await quietly(ctx, 'answerCbQuery', () => ctx.answerCbQuery(ctx.t.storyNotice[r.refused]));
      // The pressed message belongs to a screen that is gone: its buttons go too.
      if (r.refused === 'stale' || r.refused === 'old_version') await quietly(ctx, 'close keyboard', () => ctx.editMessageReplyMarkup(undefined));
    } else await ctx.reply(ctx.t.storyNotice[r.refused]!);
    return;
  }
  if (ctx.callbackQuery) await quietly(ctx, 'answerCbQuery', () => ctx.answerCbQuery());
  const title = content.fragment(r.target)?.title ?? '';
  if (r.vip) return void (await ctx.reply(ctx.t.storyVipLocked()));
  if (r.price !== null) {
    const arg = r.via.kind === 'continue' ? 'c' : r.via.index;
    await ctx.reply(ctx.t.storyPremiumOffer(title, r.price, me.besitos), {
      parse_mode: 'HTML',
      ...Markup.inlineKeyboard([
        [Markup.button.callback(ctx.t.storyPremiumYes(r.price), button(content, me.id, step, 'u', arg))],
        [Markup.button.callback(ctx.t.storyPremiumNo(), button(content, me.id, step, 'x'))],
      ]),
    });
    return;
  }
  await ctx.reply(ctx.t.storyLocked(title, r.reasons), { parse_mode: 'HTML' });
}

historiaFeature.command(['historia', 'story'], async (cx) => {
  const ctx = cx as unknown as BotContext;
  const me = ctx.state.userState;
  if (!me) return;
  const content = await storyContent(ctx);
  if (!content) return;
  // Continuing writes nothing; only a start (or a relocation after a content change) is a move.
  const peek = await peekStory(ctx.deps.db, content, me.id, playerOf(me));
  if (peek) return sendScreen(ctx, content, me.id, peek);
  const run = await move(ctx, content, me, { type: 'open' });
  if (run?.result) await sendScreen(ctx, content, me.id, run.result.screen);
  if (run?.result?.capped) await ctx.reply(run.result.capped);
});

historiaFeature.action(/^h:/, async (cx) => {
  const ctx = cx as unknown as BotContext;
  const me = ctx.state.userState;
  const data = 'data' in cx.callbackQuery ? cx.callbackQuery.data : '';
  const m = PRESS.exec(data);
  if (!me || !m) return void (await ctx.answerCbQuery(ctx.t.storyNotice.malformed));
  const [, act, owner, version, stepPart, arg] = m;
  if (parseInt(owner!, 36) !== me.id) return void (await ctx.answerCbQuery(ctx.t.storyNotice.foreign));
  const content = await storyContent(ctx);
  if (!content) return;
  if (version !== versionTag(content)) {
    await ctx.answerCbQuery(ctx.t.storyNotice.old_version);
    return quietly(ctx, 'close keyboard', () => ctx.editMessageReplyMarkup(undefined));
  }
  const step = parseInt(stepPart!, 36);
  if (act === 'x') {
    await ctx.answerCbQuery();
    return quietly(ctx, 'decline', () => ctx.editMessageText(ctx.t.storyPremiumDeclined()));
  }
  const via: Via = act === 'c' || arg === 'c' ? { kind: 'continue' } : { kind: 'decision', index: Number(arg ?? -1) };
  if (act === 'd' && arg === undefined) return void (await ctx.answerCbQuery(ctx.t.storyNotice.malformed));
  let action: Action;
  if (act === 'r') {
    // Throw only for the screen the user is on (a second tap after the throw gets the notice instead).
    const p = await loadProgress(ctx.deps.db, me.id);
    const f = p?.current ? content.fragment(p.current) : null;
    if (!p || p.step !== step || f?.game?.kind !== 'dice') return refused(ctx, content, me, { refused: 'stale' }, step);
    await ctx.answerCbQuery();
    await quietly(ctx, 'close keyboard', () => ctx.editMessageReplyMarkup(undefined));
    const dice = await ctx.replyWithDice({ emoji: f.game.emoji });
    action = { type: 'dice', version: content.version.hash, step, value: dice.dice.value };
  } else {
    action = { type: act === 'u' ? 'unlock' : 'press', version: content.version.hash, step, via };
  }
  const run = await move(ctx, content, me, action);
  if (!run?.result) return;
  if (act !== 'r') {
    await quietly(ctx, 'answerCbQuery', () => ctx.answerCbQuery());
    // The choice is made: the old message keeps its text and loses its buttons.
    await quietly(ctx, 'close keyboard', () => ctx.editMessageReplyMarkup(undefined));
  }
  await sendScreen(ctx, content, me.id, run.result.screen);
  if (run.result.capped) await ctx.reply(run.result.capped);
});

/** A riddle answer: any text (not a command) in a private chat while the current fragment is a riddle. */
historiaFeature.on('text', async (cx, next) => {
  const ctx = cx as unknown as BotContext;
  const me = ctx.state.userState;
  const text = cx.message.text;
  if (!me || cx.chat.type !== 'private' || text.startsWith('/')) return next();
  const p = await loadProgress(ctx.deps.db, me.id);
  if (!p?.current) return next();
  const content = await storyContent(ctx);
  if (!content) return;
  if (content.fragment(p.current)?.game?.kind !== 'riddle') return next();
  const run = await move(ctx, content, me, { type: 'riddle', text });
  if (run?.result) await sendScreen(ctx, content, me.id, run.result.screen);
  if (run?.result?.capped) await ctx.reply(run.result.capped);
});
