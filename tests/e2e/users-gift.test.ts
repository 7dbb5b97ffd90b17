import { describe, expect, it } from 'vitest';
import { getBalance, spendBesitos, grantBesitos } from '../../lib/besitos/ledger.js';
import { z } from 'zod';
import { executePendingAction, registerCommand, runCommand } from '../../lib/commands/index.js';
import { giftCommand } from '../../lib/commands/gift.js';
import { withTransaction } from '../../lib/db/transaction.js';
import { callbackUpdate, nextUpdateId, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId, useTestDb } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';
import { theTime } from '../../lib/time/format.js';
import { drainJobs } from '../support/jobs.js';

const db = useTestDb(30);
let now = Date.now();
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000', UNDO_WINDOW_SECONDS: '60' }, { clock: () => new Date(now) });
const msg = t.app.bot.context.t!;

interface Person {
  tg: number;
  id: number;
  username: string;
}

async function person(name: string, besitos = 0): Promise<Person> {
  const tg = uniqueTelegramId();
  const username = `${name}_${tg}`.slice(0, 32);
  await t.post(textUpdate(tg, '/start', { firstName: name, username }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { tg, id: row!.id, username };
}

const balance = async (p: Person) => (await getBalance(db, p.id)).besitos;
const giftRows = async (p: Person) =>
  (await db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${p.id} AND source = 'gift'`)[0]!.n;

/** /regalar → the confirmation's "yes" callback data. */
async function propose(from: Person, text: string): Promise<string | undefined> {
  await t.post(textUpdate(from.tg, text, { username: from.username }));
  const confirm = lastTo(t.telegram, 'sendMessage', from.tg, /^¿Regalar/);
  return buttonsOf(confirm).find((d) => d.startsWith('g:y:') && text.length > 0 && confirm!.at >= Date.now() - 5_000);
}

async function giftAndConfirm(from: Person, to: Person, amount: number): Promise<string> {
  t.telegram.reset();
  const yes = await propose(from, `/regalar ${amount} @${to.username}`);
  expect(yes).toBeDefined();
  await t.post(callbackUpdate(from.tg, yes!));
  const done = t.telegram.callsOf('editMessageText').at(-1);
  const undo = buttonsOf(done).find((d) => d.startsWith('g:u:'));
  expect(undo).toBeDefined();
  return undo!;
}

describe('/regalar through the webhook', () => {
  it('confirmation, replayed confirmation moves once, receiver notified, double undo reverses once', async () => {
    const ana = await person('ana', 100);
    const beto = await person('beto');
    t.telegram.reset();
    const yes = await propose(ana, `/regalar 30 @${beto.username}`);
    expect(yes).toMatch(/^g:y:\d+:[0-9a-z]+$/);
    expect(Buffer.byteLength(yes!)).toBeLessThanOrEqual(64);
    expect(await balance(ana)).toBe(100); // nothing moves before the confirmation
    // Two presses of "Sí" (different callback queries), concurrently, plus a later third one.
    await Promise.all([t.post(callbackUpdate(ana.tg, yes!)), t.post(callbackUpdate(ana.tg, yes!))]);
    await t.post(callbackUpdate(ana.tg, yes!));
    expect(await balance(ana)).toBe(70);
    expect(await balance(beto)).toBe(30);
    expect(await giftRows(ana)).toBe(1);
    expect(t.telegram.sentTexts(beto.tg).filter((x) => x.includes('te regaló'))).toHaveLength(1);
    // The other two presses are told it is done, or (the concurrent one, while the first is confirming) on its way.
    expect(cbAnswers(t.telegram).filter((a) => a.text === msg.giftAlreadyDone() || a.text === msg.giftInProgress())).toHaveLength(2);
    const undo = buttonsOf(t.telegram.callsOf('editMessageText').at(-1)).find((d) => d.startsWith('g:u:'))!;
    // Undo twice, concurrently: one reversal.
    await Promise.all([t.post(callbackUpdate(ana.tg, undo)), t.post(callbackUpdate(ana.tg, undo))]);
    expect(await balance(ana)).toBe(100);
    expect(await balance(beto)).toBe(0);
    const [rev] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE type = 'reversal' AND user_id IN ${db([ana.id, beto.id])}`;
    expect(rev!.n).toBe(2); // one compensating row per leg
    expect(cbAnswers(t.telegram).filter((a) => a.text === msg.giftAlreadyUndone())).toHaveLength(1);
    // The undo comes within the minute of the gift: beto hears of it in the minute's summary (issue 16), once.
    expect(t.telegram.sentTexts(beto.tg).filter((x) => x.includes('deshizo'))).toHaveLength(0);
    now = (Math.floor(now / 60_000) + 1) * 60_000 + 1;
    await drainJobs(t.app, () => (now += 61_000));
    expect(t.telegram.sentTexts(beto.tg).filter((x) => x.includes('1 regalo deshecho (30 besitos)'))).toHaveLength(1);
    // Someone else cannot press the sender's undo button.
    const eve = await person('eve', 5);
    const undo2 = await giftAndConfirm(ana, beto, 1);
    await t.post(callbackUpdate(eve.tg, undo2));
    expect(cbAnswers(t.telegram).at(-1)!.text).toBe('Ese botón no es tuyo.');
    expect(t.telegram.callsOf('editMessageReplyMarkup')).toHaveLength(0); // the owner's button stays
    expect(await balance(beto)).toBe(1);
    expect(await ledgerMismatches(db, [ana.id, beto.id, eve.id])).toEqual([]);
  });

  it('a confirmation whose edit fails with 5xx is redelivered: the undo button and the notification come back, money moves once', async () => {
    const ana = await person('ana', 100);
    const beto = await person('beto');
    t.telegram.reset();
    const yes = await propose(ana, `/regalar 30 @${beto.username}`);
    const update = callbackUpdate(ana.tg, yes!);
    const notified = () => t.telegram.sentTexts(beto.tg).filter((x) => x.includes('te regaló')).length;
    // The transfer commits, then editMessageText fails 3× (the client's in-request retries): 503.
    t.telegram.failNext('editMessageText', 3, 502);
    expect((await t.post(update)).status).toBe(503);
    expect(t.telegram.callsOf('editMessageText!failed')).toHaveLength(3);
    expect([await balance(ana), await balance(beto)]).toEqual([70, 30]);
    expect(notified()).toBe(0);
    // Telegram redelivers the same update: the message gets its "Deshacer" button, beto is told, nothing moves again.
    expect((await t.post(update)).status).toBe(200);
    const edit = t.telegram.callsOf('editMessageText').at(-1);
    expect(String(edit?.payload.text)).toContain('Puedes deshacerlo');
    const undo = buttonsOf(edit).find((d) => d.startsWith('g:u:'));
    expect(undo).toBeDefined();
    expect(notified()).toBe(1);
    expect([await balance(ana), await balance(beto)]).toEqual([70, 30]);
    expect(await giftRows(ana)).toBe(1);
    // A later press of the same "Sí" (another update): the message again, a toast, no second notification.
    await t.post(callbackUpdate(ana.tg, yes!));
    expect(buttonsOf(t.telegram.callsOf('editMessageText').at(-1))).toEqual([undo]);
    expect(cbAnswers(t.telegram).at(-1)!.text).toBe(msg.giftAlreadyDone());
    expect(notified()).toBe(1);
    // The recovered button works.
    await t.post(callbackUpdate(ana.tg, undo!));
    expect([await balance(ana), await balance(beto)]).toEqual([100, 0]);
    expect(await ledgerMismatches(db, [ana.id, beto.id])).toEqual([]);
  });

  it('a redelivery after the undo window edits the message without the button and still notifies once', async () => {
    const ana = await person('ana', 50);
    const beto = await person('beto');
    t.telegram.reset();
    const yes = await propose(ana, `/regalar 20 @${beto.username}`);
    const update = callbackUpdate(ana.tg, yes!);
    const notified = () => t.telegram.sentTexts(beto.tg).filter((x) => x.includes('te regaló')).length;
    t.telegram.failNext('editMessageText', 3, 502);
    expect((await t.post(update)).status).toBe(503);
    now += 61_000;
    // The first redelivery fails the same way (no notification yet), the second one gets through.
    t.telegram.failNext('editMessageText', 3, 502);
    expect((await t.post(update)).status).toBe(503);
    expect(notified()).toBe(0);
    expect((await t.post(update)).status).toBe(200);
    const edit = t.telegram.callsOf('editMessageText').at(-1)!;
    expect(String(edit.payload.text)).toContain('Le regalaste');
    expect(String(edit.payload.text)).not.toContain('deshacer');
    expect(buttonsOf(edit)).toEqual([]);
    expect(notified()).toBe(1);
    expect([await balance(ana), await balance(beto)]).toEqual([30, 20]);
    expect(await giftRows(ana)).toBe(1);
    expect(await ledgerMismatches(db, [ana.id, beto.id])).toEqual([]);
  });

  it('undo is refused after the window and after the receiver spent the gift; nothing moves', async () => {
    const ana = await person('ana', 50);
    const beto = await person('beto');
    const undo = await giftAndConfirm(ana, beto, 10);
    const doneText = String(t.telegram.callsOf('editMessageText').at(-1)!.payload.text);
    const until = new Date(now + 60_000);
    // The message names the end of the window as a time, so it stays true after it.
    expect(doneText).toContain(`Puedes deshacerlo hasta ${theTime(until, 'America/Mexico_City')}.`);
    now += 61_000;
    await t.post(callbackUpdate(ana.tg, undo));
    expect(cbAnswers(t.telegram).at(-1)!.text).toMatch(/^El plazo para deshacer terminó a (?:la 01|las (?!01)\d\d):\d\d ⌛$/);
    // …and the late press takes the button away.
    expect(t.telegram.callsOf('editMessageReplyMarkup').at(-1)!.payload.reply_markup).toBeUndefined();
    expect([await balance(ana), await balance(beto)]).toEqual([40, 10]);
    const undo2 = await giftAndConfirm(ana, beto, 10);
    await spendBesitos(db, { userId: beto.id, amount: 15, source: 'shop', idempotencyKey: `spend:${beto.id}` });
    await t.post(callbackUpdate(ana.tg, undo2));
    expect(cbAnswers(t.telegram).at(-1)!.text).toBe(msg.giftUndoSpent());
    expect([await balance(ana), await balance(beto)]).toEqual([30, 5]);
    expect(await ledgerMismatches(db, [ana.id, beto.id])).toEqual([]);
  });

  it('bad requests get a clear Spanish message and move nothing', async () => {
    const ana = await person('ana', 20);
    const beto = await person('beto', 0);
    const nobody = `@nadie_${Date.now()}`;
    const cases: [string, string][] = [
      [`/regalar 0 @${beto.username}`, msg.giftBadAmount()],
      [`/regalar -5 @${beto.username}`, msg.giftBadAmount()],
      [`/regalar diez @${beto.username}`, msg.giftBadAmount()],
      [`/regalar 2.5 @${beto.username}`, msg.giftBadAmount()],
      [`/regalar 99999999 @${beto.username}`, msg.giftTooMuch(1_000_000)],
      [`/regalar 21 @${beto.username}`, msg.giftNotEnough(21, 20)],
      [`/regalar 5 @${ana.username}`, msg.giftSelf()],
      [`/regalar 5 ${nobody}`, msg.giftUnknownUser(nobody)],
      ['/regalar 5', msg.giftUsage()],
      ['/regalar', msg.giftUsage()],
    ];
    for (const [text, expected] of cases) {
      t.telegram.reset();
      await t.post(textUpdate(ana.tg, text, { username: ana.username }));
      const sent = t.telegram.sentTexts(ana.tg);
      expect(sent, text).toHaveLength(1);
      expect(sent[0], text).toBe(expected);
      expect(buttonsOf(t.telegram.callsOf('sendMessage')[0]), text).toEqual([]);
    }
    // Replying to your own message, and to a bot's message.
    for (const [from, expected] of [
      [{ id: ana.tg, is_bot: false, first_name: 'ana' }, msg.giftSelf()],
      [{ id: 123456, is_bot: true, first_name: 'DianaBot' }, msg.giftToBot()],
    ] as const) {
      t.telegram.reset();
      const u = textUpdate(ana.tg, '/regalar 5') as any;
      u.message.reply_to_message = { message_id: 1, from, chat: u.message.chat, date: u.message.date, text: 'hola' };
      await t.post(u);
      expect(t.telegram.sentTexts(ana.tg)).toEqual([expected]);
    }
    expect([await balance(ana), await balance(beto)]).toEqual([20, 0]);
  });

  it('a gift by replying to the receiver, and an expired confirmation restarts the flow', async () => {
    const ana = await person('ana', 20);
    const beto = await person('beto');
    t.telegram.reset();
    const u = textUpdate(ana.tg, '/regalar 7') as any;
    u.message.reply_to_message = { message_id: 9, from: { id: beto.tg, is_bot: false, first_name: 'beto' }, chat: u.message.chat, date: u.message.date, text: 'hola' };
    await t.post(u);
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /^¿Regalar/)).find((d) => d.startsWith('g:y:'))!;
    now += 121_000; // the confirmation lives two minutes
    const sent = t.telegram.sentTexts(ana.tg).length;
    await t.post(callbackUpdate(ana.tg, yes));
    // A short notice that says when it expired, no new message, and the buttons go.
    expect(cbAnswers(t.telegram).at(-1)!.text).toMatch(/^Esta confirmación caducó (hoy|ayer) a (?:la 01|las (?!01)\d\d):\d\d ⌛$/);
    expect(t.telegram.sentTexts(ana.tg)).toHaveLength(sent);
    expect(t.telegram.callsOf('editMessageReplyMarkup')).toHaveLength(1);
    expect([await balance(ana), await balance(beto)]).toEqual([20, 0]);
    // Starting again works.
    await t.post(u.message && { ...u, update_id: nextUpdateId() });
    const yes2 = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /^¿Regalar/)).find((d) => d.startsWith('g:y:'))!;
    await t.post(callbackUpdate(ana.tg, yes2));
    expect([await balance(ana), await balance(beto)]).toEqual([13, 7]);
  });

  it('/actividad lists the actions with outcomes, paged', async () => {
    const ana = await person('ana', 100);
    const beto = await person('beto');
    const undo = await giftAndConfirm(ana, beto, 3);
    await t.post(callbackUpdate(ana.tg, undo));
    // One gift a minute: faster, a gift/undo loop is throttled (issue 16).
    for (let i = 0; i < 11; i++) {
      now += 60_000;
      await giftAndConfirm(ana, beto, 1);
    }
    t.telegram.reset();
    await t.post(textUpdate(ana.tg, '/actividad'));
    const first = t.telegram.callsOf('sendMessage').at(-1)!;
    expect(String(first.payload.text)).toContain('Tu actividad reciente');
    expect(String(first.payload.text).match(/Regalo de 1 besito a beto · ✅ hecho/g)).toHaveLength(10);
    const more = buttonsOf(first).find((d) => d.startsWith('act:'))!;
    await t.post(callbackUpdate(ana.tg, more));
    const second = String(t.telegram.callsOf('editMessageText').at(-1)!.payload.text);
    expect(second).toContain('Actividad anterior');
    expect(second).toContain('Deshacer un regalo');
    expect(second).toContain('Regalo de 3 besitos a beto · ↩️ deshecho');
  });
});

describe('gift command under concurrency', () => {
  it('concurrent gifts in both directions: no deadlock, total conserved, invariant holds', async () => {
    const a = await person('a', 500);
    const b = await person('b', 500);
    const cmd = giftCommand(60);
    const runs = Array.from({ length: 60 }, (_, i) => {
      const [from, to] = i % 2 ? [a, b] : [b, a];
      return runCommand(db, cmd, { userId: from.id, idempotencyKey: `conc:${from.id}:${i}`, params: { toUserId: to.id, amount: 1 + (i % 7) }, now: new Date() });
    });
    const results = await Promise.allSettled(runs);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect((await balance(a)) + (await balance(b))).toBe(1000);
    expect(await ledgerMismatches(db, [a.id, b.id])).toEqual([]);
    const [actions] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM actions WHERE user_id IN ${db([a.id, b.id])} AND name = 'gift' AND status = 'done'`;
    expect(actions!.n).toBe(60);
  });

  it('a failed gift is recorded as failed and moves nothing; invalid params never reach SQL', async () => {
    const a = await person('a', 3);
    const b = await person('b');
    await expect(runCommand(db, giftCommand(60), { userId: a.id, idempotencyKey: `f:${a.id}`, params: { toUserId: b.id, amount: 5 }, now: new Date(), isUserError: () => true })).rejects.toThrow(/insufficient/);
    await expect(runCommand(db, giftCommand(60), { userId: a.id, idempotencyKey: `g:${a.id}`, params: { toUserId: b.id, amount: -1 }, now: new Date() })).rejects.toThrow(/gift/);
    const rows = await db<{ status: string }[]>`SELECT status FROM actions WHERE user_id = ${a.id}`;
    expect(rows.map((r) => r.status)).toEqual(['failed']);
    expect([await balance(a), await balance(b)]).toEqual([3, 0]);
  });
});

describe('asynchronous commands', () => {
  it('are acknowledged as pending at once and executed once, however often the executor runs', async () => {
    const p = await person('asy', 0);
    const cmd = registerCommand({
      name: 'test.async_grant',
      mode: 'async',
      params: z.object({ amount: z.number().int().positive() }),
      async execute({ tx, userId, idempotencyKey }, params) {
        const r = await grantBesitos(tx, { userId, amount: params.amount, source: 'admin', idempotencyKey: `cmd:${idempotencyKey}` });
        return { balance: r.entry.balanceAfter };
      },
    });
    // runCommand also publishes system.command_requested; this test drives the executor by hand, so the
    // event is marked delivered in the same transaction: other files' in-process relays share this
    // outbox and would otherwise send the result through their own Bot API stubs.
    const run = await withTransaction(db, async (tx) => {
      const r = await runCommand(tx, cmd, { userId: p.id, idempotencyKey: `async:${p.id}`, params: { amount: 4 }, now: new Date() });
      await tx`UPDATE outbox SET published_at = now() WHERE type = 'system.command_requested' AND user_id = ${p.id}`;
      return r;
    });
    expect(run.action.status).toBe('pending');
    expect(run.result).toBeNull();
    expect(await balance(p)).toBe(0);
    const done = await Promise.all(Array.from({ length: 5 }, () => executePendingAction(db, run.action.id, new Date())));
    expect(done.every((a) => a.status === 'done')).toBe(true);
    expect(await balance(p)).toBe(4);
    expect((await executePendingAction(db, run.action.id, new Date())).result).toEqual({ balance: 4 });
    expect(await balance(p)).toBe(4);
  });
});
