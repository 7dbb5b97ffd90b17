import { beforeEach, describe, expect, it } from 'vitest';
import { callbackUpdate, nextUpdateId, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';
import { reactionBesitos, reactionsPerDay } from '../../lib/gamification/index.js';
import { EDIT_EVERY_SECONDS } from '../../lib/bot/features/reacciones.js';
import { unmatchedGrants } from '../../lib/economy/repository.js';

/**
 * Reaction rewards (issue 23) through the webhook: the ❤️ button under the bot's own channel posts
 * (published by /publicar and the scheduler) and `message_reaction` updates in a group where the bot is
 * an administrator. 2 besitos per post, once per user per post, at most 3 rewarded reactions a day per
 * person (across /borrar), taking back and reacting again earns nothing, the button shows the live count.
 */
let now = Date.parse('2026-12-01T18:00:00Z'); // 12:00 in America/Mexico_City
const clock = () => new Date(now);
const ADMIN = uniqueTelegramId();
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN), RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000' }, { clock });
const { app, telegram, post } = t;
const db = app.db;
const msg = app.bot.context.t!;
const BOT = { id: 123456, is_bot: true, first_name: 'DianaBot', username: 'DianaTestBot' };
const CHANNEL = { id: -1_007_000_000_000 - Math.floor(Math.random() * 1e6), title: 'Diana', type: 'channel' as const };
const GROUP = { id: -1_008_000_000_000 - Math.floor(Math.random() * 1e6), title: 'Fans de Diana', type: 'supergroup' as const };
const drain = () => drainJobs(app, () => (now += 61_000));

beforeEach(() => telegram.reset());

interface Person {
  tg: number;
  id: number;
  name: string;
}
async function person(name: string): Promise<Person> {
  const tg = uniqueTelegramId();
  await post(textUpdate(tg, '/start', { firstName: name, username: `${name}${tg}` }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  return { tg, id: Number(row!.id), name };
}
const balance = async (p: Person) => Number((await db`SELECT besitos FROM user_balances WHERE user_id = ${p.id}`)[0]?.besitos ?? 0);
const rewards = async (p: Person) => (await db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${p.id} AND source = 'reaction'`)[0]!.n;

interface Published {
  id: number;
  messageId: number;
  data: string;
}
/** An admin's /publicar to the channel, published by the scheduler: its message id and ❤️ button. */
async function publish(textOf: string): Promise<Published> {
  await post(textUpdate(ADMIN, `/publicar ${CHANNEL.id}\n${textOf}`));
  const [row] = await db<{ id: string }[]>`SELECT max(id) AS id FROM channel_posts`;
  // Published by the scheduler (the in-process trigger or the sweep, whichever runs it first).
  for (let i = 0; i < 50; i++) {
    await drain();
    const [p] = await db<{ status: string }[]>`SELECT status FROM channel_posts WHERE id = ${row!.id}`;
    if (p!.status !== 'scheduled') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const sent = telegram.callsOf('sendMessage').find((c) => c.payload.chat_id === CHANNEL.id && c.payload.text === textOf)!;
  const data = buttonsOf(sent).find((d) => d.startsWith('rx:'))!;
  expect(data).toBe(`rx:${row!.id}`);
  return { id: Number(row!.id), messageId: sent.result.message_id, data };
}
/** A press of a post's ❤️ by `p` (or of forged data on that message). */
function pressOn(p: Person, target: Published, data = target.data) {
  const u = callbackUpdate(p.tg, data, { messageId: target.messageId });
  (u.callback_query.message as Record<string, unknown>).chat = CHANNEL;
  (u.callback_query.from as Record<string, unknown>).first_name = p.name;
  return u;
}
const answerOf = (u: { callback_query: { id: string } }) => cbAnswers(telegram).find((a) => a.id === u.callback_query.id)?.text;

/** Bot API 7.0 MessageReactionUpdated, as Telegram sends it. */
function reactionUpdate(p: Person, messageId: number, oldR: string[], newR: string[]) {
  return {
    update_id: nextUpdateId(),
    message_reaction: {
      chat: GROUP,
      message_id: messageId,
      user: { id: p.tg, is_bot: false, first_name: p.name, language_code: 'es' },
      date: Math.floor(now / 1000),
      old_reaction: oldR.map((emoji) => ({ type: 'emoji', emoji })),
      new_reaction: newR.map((emoji) => ({ type: 'emoji', emoji })),
    },
  };
}

describe('reaction rewards', () => {
  it('setup: the channel, registered by an admin', async () => {
    await post({
      update_id: nextUpdateId(),
      my_chat_member: {
        chat: CHANNEL,
        from: { id: ADMIN, is_bot: false, first_name: 'Admin' },
        date: 0,
        old_chat_member: { user: BOT, status: 'left' },
        new_chat_member: { user: BOT, status: 'administrator', can_post_messages: true, can_edit_messages: true, can_invite_users: true, can_restrict_members: true },
      },
    });
    await post(callbackUpdate(ADMIN, `ch:kind:${CHANNEL.id}:free`));
    const [ch] = await db`SELECT kind FROM channels WHERE chat_id = ${CHANNEL.id}`;
    expect(ch).toMatchObject({ kind: 'free' });
  });

  it('30 concurrent presses of the same user on one post: one reward of 2 besitos', async () => {
    const ana = await person('Ana');
    const p = await publish('Primer post');
    const presses = Array.from({ length: 30 }, () => pressOn(ana, p));
    const res = await Promise.all(presses.map((u) => post(u)));
    expect(res.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(await rewards(ana)).toBe(1);
    expect(await balance(ana)).toBe(reactionBesitos());
    expect(presses.filter((u) => answerOf(u) === msg.reactionRewarded(reactionBesitos(), reactionBesitos()))).toHaveLength(1);
    expect(await ledgerMismatches(db, [ana.id])).toEqual([]);
  });

  it('un-react and re-react: the count follows, the besitos do not', async () => {
    const beto = await person('Beto');
    const p = await publish('Segundo post');
    const first = pressOn(beto, p);
    await post(first);
    expect(answerOf(first)).toBe(msg.reactionRewarded(reactionBesitos(), reactionBesitos()));
    const off = pressOn(beto, p);
    await post(off);
    expect(answerOf(off)).toBe(msg.reactionRemoved());
    const again = pressOn(beto, p);
    await post(again);
    expect(answerOf(again)).toBe(msg.reactionAgain());
    expect(await balance(beto)).toBe(reactionBesitos());
    expect(await rewards(beto)).toBe(1);
  });

  it(`the ${reactionsPerDay() + 1}th post of the day pays nothing and says so in Spanish; /borrar and coming back does not reset it; the next day pays again`, async () => {
    const cris = await person('Cris');
    const posts = [];
    for (let i = 0; i < reactionsPerDay() + 2; i++) posts.push(await publish(`Post del día ${i}`));
    for (let i = 0; i < reactionsPerDay(); i++) await post(pressOn(cris, posts[i]!));
    expect(await balance(cris)).toBe(reactionsPerDay() * reactionBesitos());
    const fourth = pressOn(cris, posts[reactionsPerDay()]!);
    await post(fourth);
    expect(answerOf(fourth)).toMatch(/^❤️ Reacción guardada, sin besitos\. Ya alcanzaste el máximo de hoy en reacciones \(3 veces al día\)\. Vuelve a intentarlo /);
    expect(telegram.callsOf('answerCallbackQuery').find((c) => c.payload.callback_query_id === fourth.callback_query.id)!.payload.show_alert).toBe(true);
    expect(await balance(cris)).toBe(reactionsPerDay() * reactionBesitos());
    // Erase and come back as a new account: the person's day is still spent.
    await post(textUpdate(cris.tg, '/borrar'));
    const yes = buttonsOf(lastTo(telegram, 'sendMessage', cris.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
    await post(callbackUpdate(cris.tg, yes));
    await post(textUpdate(cris.tg, '/start', { firstName: 'Cris' }));
    const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${cris.tg}`;
    const back: Person = { tg: cris.tg, id: Number(row!.id), name: 'Cris' };
    expect(back.id).not.toBe(cris.id);
    const fifth = pressOn(back, posts[reactionsPerDay() + 1]!);
    await post(fifth);
    expect(answerOf(fifth)).toMatch(/^❤️ Reacción guardada, sin besitos\. Ya alcanzaste el máximo de hoy/);
    expect(await balance(back)).toBe(0);
    // The erased account's reactions are gone with it (they named the account), and the person is nowhere.
    // Taken back; the paid ones stay (internal ids only) as the proof of their grants.
    const left = await db<{ active: boolean; rewarded: boolean }[]>`SELECT active, rewarded FROM reactions WHERE user_id = ${cris.id}`;
    expect(left.length).toBe(reactionsPerDay());
    expect(left.every((r) => !r.active && r.rewarded)).toBe(true);
    expect((await unmatchedGrants(db, new Date(0), new Date(now + 86_400_000))).filter((u) => u.source === 'reaction')).toEqual([]);
    // Tomorrow (local time) pays again.
    now += 24 * 3_600_000;
    const p = await publish('Post de mañana');
    const next = pressOn(back, p);
    await post(next);
    expect(answerOf(next)).toBe(msg.reactionRewarded(reactionBesitos(), reactionBesitos()));
  });

  it(`one person pressing ${reactionsPerDay() + 3} posts at once: exactly ${reactionsPerDay()} rewarded (the cap is checked in the grant's transaction)`, async () => {
    const dani = await person('Dani');
    const posts = [];
    for (let i = 0; i < reactionsPerDay() + 3; i++) posts.push(await publish(`Carrera ${i}`));
    await Promise.all(posts.map((p) => post(pressOn(dani, p))));
    expect(await rewards(dani)).toBe(reactionsPerDay());
    expect(await balance(dani)).toBe(reactionsPerDay() * reactionBesitos());
    expect(await ledgerMismatches(db, [dani.id])).toEqual([]);
  });

  it("a forged press (another post's data on this message) and a press on an unpublished post pay nothing", async () => {
    const eva = await person('Eva');
    const a = await publish('Post A');
    const b = await publish('Post B');
    const forged = pressOn(eva, a, b.data);
    await post(forged);
    expect(answerOf(forged)).toBe(msg.reactionNotHere());
    const unknown = pressOn(eva, a, 'rx:999999999');
    await post(unknown);
    expect(answerOf(unknown)).toBe(msg.reactionNotHere());
    expect(await balance(eva)).toBe(0);
  });

  it('the button shows the live count, edited at most once per slot plus one trailing edit', async () => {
    const p = await publish('Post popular');
    now = (Math.floor(now / (EDIT_EVERY_SECONDS * 1000)) + 1) * EDIT_EVERY_SECONDS * 1000; // a slot's start
    const fans = [];
    for (let i = 0; i < 12; i++) fans.push(await person(`Fan${i}`));
    telegram.reset();
    await Promise.all(fans.map((f) => post(pressOn(f, p))));
    const edits = () => telegram.callsOf('editMessageReplyMarkup').filter((c) => c.payload.chat_id === CHANNEL.id && c.payload.message_id === p.messageId);
    expect(edits()).toHaveLength(1); // the slot's first press, at once
    now += EDIT_EVERY_SECONDS * 1000;
    await drain();
    expect(edits()).toHaveLength(2); // one trailing edit with the count as it is then
    const last = edits().at(-1)!;
    const markup = typeof last.payload.reply_markup === 'string' ? JSON.parse(last.payload.reply_markup) : last.payload.reply_markup;
    expect(markup.inline_keyboard.flat().find((b: { callback_data?: string }) => b.callback_data === p.data).text).toBe('❤️ 12');
  });

  it('message_reaction in a group where the bot is admin (Bot API 7.0 JSON): a reaction pays once; taken back and put again, changed emoji, anonymous and count updates pay nothing', async () => {
    const fer = await person('Fer');
    const add = reactionUpdate(fer, 501, [], ['❤']);
    expect((await post(add)).status).toBe(200);
    expect(await balance(fer)).toBe(reactionBesitos());
    expect((await post(add)).status).toBe(200); // the same update again: nothing
    expect((await post(reactionUpdate(fer, 501, ['❤'], ['🔥']))).status).toBe(200); // another emoji
    expect((await post(reactionUpdate(fer, 501, ['🔥'], []))).status).toBe(200); // taken back
    expect((await post(reactionUpdate(fer, 501, [], ['👍']))).status).toBe(200); // and again
    expect(await balance(fer)).toBe(reactionBesitos());
    expect(await rewards(fer)).toBe(1);
    const [r] = await db`SELECT active, rewarded FROM reactions WHERE user_id = ${fer.id} AND target = ${`msg:${GROUP.id}:501`}`;
    expect(r).toMatchObject({ active: true, rewarded: true });
    // On behalf of a chat (anonymous admin): nobody to reward.
    const anon = { update_id: nextUpdateId(), message_reaction: { chat: GROUP, message_id: 502, actor_chat: GROUP, date: 0, old_reaction: [], new_reaction: [{ type: 'emoji', emoji: '❤' }] } };
    expect((await post(anon)).status).toBe(200);
    // A channel's anonymous counts.
    const count = { update_id: nextUpdateId(), message_reaction_count: { chat: CHANNEL, message_id: 7, date: 0, reactions: [{ type: { type: 'emoji', emoji: '❤' }, total_count: 42 }] } };
    expect((await post(count)).status).toBe(200);
    const [n] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM reactions WHERE target IN (${`msg:${GROUP.id}:502`}, ${`msg:${CHANNEL.id}:7`})`;
    expect(n!.n).toBe(0);
    expect(telegram.calls.filter((c) => c.method === 'sendMessage' && c.payload.chat_id === GROUP.id)).toHaveLength(0); // no group spam
    expect(await ledgerMismatches(db, [fer.id])).toEqual([]);
  });

  it('a group member who never wrote to the bot gets no account by reacting (concurrently, and redelivered); after /start a reaction pays', async () => {
    const stranger: Person = { tg: uniqueTelegramId(), id: 0, name: 'Desconocida' };
    const first = reactionUpdate(stranger, 601, [], ['❤']);
    const statuses = await Promise.all([post(first), post(reactionUpdate(stranger, 602, [], ['🔥']))]);
    statuses.push(await post(first));
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await db`SELECT 1 FROM users WHERE telegram_id = ${stranger.tg}`).toHaveLength(0);
    expect(await db`SELECT 1 FROM telegram_updates WHERE update_id = ${first.update_id} AND status = 'done'`).toHaveLength(1);
    expect(telegram.calls.filter((c) => c.payload.chat_id === stranger.tg || c.payload.chat_id === GROUP.id)).toHaveLength(0);
    // Now she talks to the bot: an account, and her next reaction is rewarded.
    await post(textUpdate(stranger.tg, '/start', { firstName: stranger.name }));
    const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${stranger.tg}`;
    const registered = { ...stranger, id: Number(row!.id) };
    expect((await post(reactionUpdate(registered, 603, [], ['❤']))).status).toBe(200);
    expect(await balance(registered)).toBe(reactionBesitos());
  });
});
