import { describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { GIFT_MOVES_PER_WINDOW, NOTIFY_WINDOW_SECONDS } from '../../lib/bot/gift-pacing.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId, useTestDb } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';

/**
 * Issue 16: "/regalar 1 + undo in a loop sends the receiver dozens of notifications in seconds".
 * Through the webhook: the receiver hears from one sender at most once per minute plus one summary
 * of the minute (a scheduled job) whose figures are the ledger's; the loop itself is throttled with a
 * Spanish answer to the sender.
 */
const db = useTestDb(20);
const MINUTE = 60_000;
let now = Math.floor(Date.now() / MINUTE) * MINUTE + 1; // each test starts at a window's start
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000', UNDO_WINDOW_SECONDS: '60' }, { clock: () => new Date(now) });
const msg = t.app.bot.context.t!;

interface Person {
  tg: number;
  id: number;
  username: string;
  name: string;
}

async function person(name: string, besitos = 0): Promise<Person> {
  const tg = uniqueTelegramId();
  const username = `${name}_${tg}`.slice(0, 32);
  await t.post(textUpdate(tg, '/start', { firstName: name, username }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { tg, id: row!.id, username, name };
}

/** How the bot names the person now (a button press carries Telegram's first name of the presser). */
const nameOf = async (p: Person) => (await db<{ first_name: string }[]>`SELECT first_name FROM users WHERE id = ${p.id}`)[0]!.first_name;
const toReceiver = (r: Person) => t.telegram.callsOf('sendMessage').filter((c) => Number(c.payload.chat_id) === r.tg);

/** The receiver's side of the ledger since the start: gifts received, undone, and the net. */
async function ledgerOf(r: Person) {
  const [row] = await db<{ gifts: number; given: number; undos: number; taken: number; net: number }[]>`
    SELECT count(*) FILTER (WHERE type = 'transfer_in')::int AS gifts,
           coalesce(sum(amount) FILTER (WHERE type = 'transfer_in'), 0)::int AS given,
           count(*) FILTER (WHERE type = 'reversal')::int AS undos,
           coalesce(-sum(amount) FILTER (WHERE type = 'reversal'), 0)::int AS taken,
           coalesce(sum(amount), 0)::int AS net
      FROM transactions WHERE user_id = ${r.id} AND source = 'gift'`;
  return row!;
}

/** One loop: /regalar 1, "Sí", and (when `undo`) "Deshacer". Returns what the sender was told. */
async function cycle(from: Person, to: Person, undo: boolean): Promise<'gift' | 'throttled' | 'refused'> {
  const before = t.telegram.calls.length;
  await t.post(textUpdate(from.tg, `/regalar 1 @${to.username}`, { username: from.username }));
  const reply = t.telegram.calls.slice(before).find((c) => c.method === 'sendMessage' && Number(c.payload.chat_id) === from.tg);
  if (/Vas muy rápido/.test(String(reply?.payload.text))) return 'throttled';
  const yes = buttonsOf(reply).find((d) => d.startsWith('g:y:'));
  if (!yes) throw new Error(`no confirmation: ${String(reply?.payload.text)}`);
  const press = callbackUpdate(from.tg, yes);
  await t.post(press);
  const answer = cbAnswers(t.telegram).find((a) => a.id === press.callback_query.id);
  if (answer?.text && /Vas muy rápido/.test(answer.text)) return 'refused';
  const done = t.telegram.callsOf('editMessageText').filter((c) => Number(c.payload.chat_id) === from.tg).at(-1);
  const undoData = buttonsOf(done).find((d) => d.startsWith('g:u:'));
  if (undo && undoData) await t.post(callbackUpdate(from.tg, undoData));
  return 'gift';
}

/** To the start of the next clock minute (the windows are the clock's minutes), then runs what is due. */
async function passMinute() {
  const w = NOTIFY_WINDOW_SECONDS * 1000;
  now = (Math.floor(now / w) + 1) * w + 1;
  await drainJobs(t.app, () => (now += 61_000));
}

describe('gift notifications are paced and gift/undo loops throttled', () => {
  it('/regalar 1 + undo 30× in a loop: the receiver gets at most 2 messages, the summary says what the ledger says', async () => {
    const ana = await person('Ana', 100);
    const beto = await person('Beto');
    t.telegram.reset();
    const outcomes: string[] = [];
    for (let i = 0; i < 30; i++) outcomes.push(await cycle(ana, beto, i % 5 !== 4));
    // Throttled with a Spanish answer once the minute's budget (gifts + undos) is spent.
    expect(outcomes.filter((o) => o === 'gift').length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === 'gift').length).toBeLessThanOrEqual(GIFT_MOVES_PER_WINDOW);
    expect(outcomes).toContain('throttled');
    const throttled = lastTo(t.telegram, 'sendMessage', ana.tg, /Vas muy rápido/);
    expect(String(throttled?.payload.text)).toMatch(/Vuelve a intentarlo en \d+ s/);

    expect(toReceiver(beto)).toHaveLength(1); // the first gift, told at once
    await passMinute();
    const received = toReceiver(beto);
    expect(received).toHaveLength(2);
    const l = await ledgerOf(beto);
    expect(l.gifts).toBeGreaterThan(1);
    expect(String(received[1]!.payload.text)).toBe(msg.giftSummary(await nameOf(ana), { gifts: l.gifts, given: l.given, undos: l.undos, takenBack: l.taken }));
    expect(l.net).toBe(l.given - l.taken);
    expect(await ledgerMismatches(db)).toEqual([]);

    // The next minute starts a new window: the next gift is told at once again, and nothing is left to summarise.
    expect(await cycle(ana, beto, false)).toBe('gift');
    expect(toReceiver(beto)).toHaveLength(3);
    await passMinute();
    expect(toReceiver(beto)).toHaveLength(3);
  });

  it('30 "Sí" pressed at once on confirmations in 30 groups: the budget holds exactly, at most 2 messages, the summary matches the ledger', async () => {
    const carla = await person('Carla', 100);
    const dani = await person('Dani');
    t.telegram.reset();
    const presses: ReturnType<typeof callbackUpdate>[] = [];
    for (let i = 0; i < 30; i++) {
      const chat = { id: -100_000_000_000 - Math.floor(Math.random() * 1e9), title: `Grupo ${i}`, type: 'supergroup' as const };
      const cmd = textUpdate(carla.tg, `/regalar 1 @${dani.username}`, { firstName: carla.name, username: carla.username });
      (cmd.message as Record<string, unknown>).chat = chat;
      await t.post(cmd);
      const sent = t.telegram.callsOf('sendMessage').filter((c) => Number(c.payload.chat_id) === chat.id).at(-1);
      const yes = buttonsOf(sent).find((d) => d.startsWith('g:y:'))!;
      const press = callbackUpdate(carla.tg, yes, { messageId: sent!.result.message_id });
      const m = press.callback_query.message as Record<string, unknown>;
      m.chat = chat;
      m.reply_to_message = { message_id: cmd.message.message_id, date: 1, chat, from: { id: carla.tg, is_bot: false, first_name: carla.name }, text: '/regalar' };
      presses.push(press);
    }
    const res = await Promise.all(presses.map((p) => t.post(p)));
    expect(res.map((r) => r.status)).toEqual(Array(30).fill(200));
    const [moves] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM actions WHERE user_id = ${carla.id} AND name = 'gift' AND status = 'done'`;
    expect(moves!.n).toBe(GIFT_MOVES_PER_WINDOW);
    const refused = cbAnswers(t.telegram).filter((a) => presses.some((p) => p.callback_query.id === a.id) && /Vas muy rápido/.test(a.text ?? ''));
    expect(refused).toHaveLength(30 - GIFT_MOVES_PER_WINDOW);
    expect(toReceiver(dani)).toHaveLength(1);
    await passMinute();
    const received = toReceiver(dani);
    expect(received).toHaveLength(2);
    const l = await ledgerOf(dani);
    expect(l).toMatchObject({ gifts: GIFT_MOVES_PER_WINDOW, given: GIFT_MOVES_PER_WINDOW, undos: 0 });
    expect(String(received[1]!.payload.text)).toBe(msg.giftSummary(await nameOf(carla), { gifts: l.gifts, given: l.given, undos: l.undos, takenBack: l.taken }));
    expect(await ledgerMismatches(db)).toEqual([]);
  });

  it('two senders to one receiver are paced separately; a lone gift gets no summary', async () => {
    const eva = await person('Eva', 10);
    const fede = await person('Fede', 10);
    const gala = await person('Gala');
    t.telegram.reset();
    expect(await cycle(eva, gala, false)).toBe('gift');
    expect(await cycle(fede, gala, false)).toBe('gift');
    expect(toReceiver(gala).map((c) => String(c.payload.text))).toEqual([msg.giftReceived(1, await nameOf(eva)), msg.giftReceived(1, await nameOf(fede))]);
    await passMinute();
    expect(toReceiver(gala)).toHaveLength(2);
  });

  it('an erased sender leaves a summary job that sends nothing and holds no personal data', async () => {
    const hugo = await person('Hugo', 10);
    const ines = await person('Ines');
    t.telegram.reset();
    expect(await cycle(hugo, ines, true)).toBe('gift'); // gift told at once, its undo left to the summary
    const [job] = await db<{ payload: unknown }[]>`SELECT payload FROM scheduled_jobs WHERE kind = 'gift.summary' AND key LIKE ${`gift.summary:${hugo.id}:${ines.id}:%`}`;
    expect(JSON.stringify(job!.payload)).not.toMatch(new RegExp(`${hugo.tg}|${ines.tg}|Hugo|Ines`));
    await t.post(textUpdate(hugo.tg, '/borrar', { username: hugo.username }));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', hugo.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
    await t.post(callbackUpdate(hugo.tg, yes));
    await passMinute();
    expect(toReceiver(ines)).toHaveLength(1);
  });
});
