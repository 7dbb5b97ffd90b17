import { Composer, Markup } from 'telegraf';
import { answerTrivia, nextTrivia, StoryRefused } from '../../narrative/index.js';
import type { BotContext } from '../context.js';
import { storyContent } from './historia.js';

/**
 * /trivia: the next question the user has not answered, options as buttons. The clock starts on the
 * server when the question is sent; an answer after the limit is late (no reward); each question
 * rewards once per user (lib/narrative). Buttons: `tv:<user>:<question>:<option>`.
 */
export const triviaFeature = new Composer<BotContext>();

triviaFeature.command('trivia', async (cx) => {
  const ctx = cx as unknown as BotContext;
  const me = ctx.state.userState;
  if (!me) return;
  const content = await storyContent(ctx);
  if (!content) return;
  const t = await nextTrivia(ctx.deps.db, content, me.id, ctx.deps.clock());
  if (!t) return void (await ctx.reply(ctx.t.triviaNone()));
  const owner = me.id.toString(36);
  await ctx.reply(ctx.t.triviaQuestion(t.question, t.difficulty, t.timeLimitSeconds), {
    parse_mode: 'HTML',
    ...Markup.inlineKeyboard(t.options.map((o, i) => [Markup.button.callback(o, `tv:${owner}:${t.key}:${i}`)])),
  });
});

triviaFeature.action(/^tv:/, async (cx) => {
  const ctx = cx as unknown as BotContext;
  const me = ctx.state.userState;
  const data = 'data' in cx.callbackQuery ? cx.callbackQuery.data : '';
  const m = /^tv:([0-9a-z]{1,12}):([a-z0-9][a-z0-9_-]{0,47}):([0-5])$/.exec(data);
  if (!me || !m) return void (await ctx.answerCbQuery(ctx.t.storyNotice.malformed));
  if (parseInt(m[1]!, 36) !== me.id) return void (await ctx.answerCbQuery(ctx.t.storyNotice.foreign));
  const content = await storyContent(ctx);
  if (!content) return;
  let run;
  try {
    run = await answerTrivia(ctx.deps.db, content, {
      userId: me.id,
      idempotencyKey: `${ctx.state.requestKey}:trivia`,
      key: m[2]!,
      option: Number(m[3]),
      now: ctx.deps.clock(),
    });
  } catch (err) {
    if (!(err instanceof StoryRefused)) throw err;
    await ctx.answerCbQuery(err.refusal.refused === 'stale' ? ctx.t.triviaAlready() : ctx.t.storyNotice.unavailable);
    await ctx.editMessageReplyMarkup(undefined).catch(() => undefined);
    return;
  }
  await ctx.answerCbQuery();
  const r = run.result!;
  if (r.kind !== 'answered') return;
  const question = content.triviaQuestion(m[2]!);
  const chosen = question?.options[Number(m[3])] ?? '';
  // The question stays readable with the answer under it; the buttons go.
  await ctx
    .editMessageText(ctx.t.triviaAnswered(question?.question ?? '', chosen), { parse_mode: 'HTML' })
    .catch((err) => ctx.deps.log.info({ msg: 'trivia: question not edited', error: String(err) }));
  await ctx.reply(`${ctx.t.triviaResult(r)}\n${ctx.t.triviaMore()}`, { parse_mode: 'HTML' });
});
