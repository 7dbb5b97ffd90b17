import { describe, expect, it } from 'vitest';
import { grantBesitos, getBalance } from '../../lib/besitos/ledger.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { Telegram } from 'telegraf';
import { visibleLength, withReplyConventions } from '../../lib/bot/reply.js';
import { callbackUpdate, startTestApp, TEST_TOKEN, textUpdate } from '../support/app.js';
import { uniqueTelegramId, useTestDb } from '../support/db.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';

const db = useTestDb(20);
const kv = createMemoryStore();
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000' }, { kv });

async function person(name: string, besitos = 0) {
  const tg = uniqueTelegramId();
  const username = `${name}_${tg}`.slice(0, 32);
  await t.post(textUpdate(tg, '/start', { firstName: name, username }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { tg, id: row!.id, username };
}
const updateStatus = async (updateId: number) =>
  (await db<{ status: string }[]>`SELECT status FROM telegram_updates WHERE update_id = ${updateId}`)[0]?.status;

describe('inline keyboards never lie (lib/bot/keyboard.ts)', () => {
  it('a second /regalar replaces the first confirmation: its buttons go, a late press says "reemplazada", nothing moves', async () => {
    const ana = await person('ana', 50);
    const beto = await person('beto');
    t.telegram.reset();
    await t.post(textUpdate(ana.tg, `/regalar 5 @${beto.username}`));
    const first = lastTo(t.telegram, 'sendMessage', ana.tg, /^¿Regalar/)!;
    const firstYes = buttonsOf(first).find((d) => d.startsWith('g:y:'))!;
    await t.post(textUpdate(ana.tg, `/regalar 7 @${beto.username}`));
    // The first confirmation is edited: marked as replaced, no buttons. (Not its old text: that named the
    // receiver, and the registry keeps no names — a receiver who erases their data leaves nothing there.)
    const replaced = t.telegram.callsOf('editMessageText').at(-1)!;
    expect(String(replaced.payload.text)).not.toContain('beto');
    expect(String(replaced.payload.text)).toContain('Reemplazada por una confirmación más nueva');
    expect(buttonsOf(replaced)).toEqual([]);
    const sent = t.telegram.sentTexts(ana.tg).length;
    const press = callbackUpdate(ana.tg, firstYes);
    expect((await t.post(press)).status).toBe(200);
    expect(cbAnswers(t.telegram).at(-1)!.text).toBe('Esta confirmación fue reemplazada por una más nueva ⤵️');
    expect(t.telegram.sentTexts(ana.tg)).toHaveLength(sent); // a notice, not a message
    expect((await getBalance(db, ana.id)).besitos).toBe(50);
    // The newer confirmation still works.
    const yes2 = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /^¿Regalar <b>7/)).find((d) => d.startsWith('g:y:'))!;
    await t.post(callbackUpdate(ana.tg, yes2));
    expect((await getBalance(db, ana.id)).besitos).toBe(43);
    // Pressed once more after it went through: "ya se había enviado", never "caducó".
    await t.post(callbackUpdate(ana.tg, yes2));
    expect(cbAnswers(t.telegram).at(-1)!.text).toBe(t.app.bot.context.t!.giftAlreadyDone());
  });

  it('a double press whose second edit Telegram refuses as "message is not modified" is a success, not a failure', async () => {
    const ana = await person('ana', 50);
    const beto = await person('beto');
    await t.post(textUpdate(ana.tg, `/regalar 5 @${beto.username}`));
    const no = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /^¿Regalar/)).find((d) => d.startsWith('g:n:'))!;
    await t.post(callbackUpdate(ana.tg, no));
    // History paging edits in place: the same page twice is "not modified" for Telegram.
    for (let i = 0; i < 12; i++) await grantBesitos(db, { userId: ana.id, amount: 1, source: 'mission', idempotencyKey: `m:${ana.id}:${i}` });
    await t.post(textUpdate(ana.tg, '/historial'));
    const more = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /movimientos/)).find((d) => d.startsWith('hist:'))!;
    await t.post(callbackUpdate(ana.tg, more));
    t.telegram.failNext('editMessageText', 1, 400, { description: 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same' });
    const again = callbackUpdate(ana.tg, more);
    expect((await t.post(again)).status).toBe(200);
    expect(await updateStatus(again.update_id)).toBe('done');
    expect(cbAnswers(t.telegram).at(-1)!.text).toBeUndefined(); // no red notice
  });

  it('a button from before a restart (its state gone) says it is no longer active, not that it expired', async () => {
    const ana = await person('ana', 50);
    const beto = await person('beto');
    await t.post(textUpdate(ana.tg, `/regalar 5 @${beto.username}`));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /^¿Regalar/)).find((d) => d.startsWith('g:y:'))!;
    await kv.delMatching(`sess:${ana.id}.*`); // what a restart of the in-memory store does
    await t.post(callbackUpdate(ana.tg, yes));
    expect(cbAnswers(t.telegram).at(-1)!.text).toBe('Este botón ya no está activo. Vuelve a escribir el comando.');
    expect((await getBalance(db, ana.id)).besitos).toBe(50);
  });
});

describe('replies are HTML and fit Telegram (lib/bot/reply.ts)', () => {
  it('an unknown @name with HTML in it is shown escaped and sent as HTML', async () => {
    const ana = await person('ana', 10);
    t.telegram.reset();
    await t.post(textUpdate(ana.tg, '/regalar 5 @<b>x</b>&'));
    const call = t.telegram.callsOf('sendMessage').at(-1)!;
    expect(call.payload.parse_mode).toBe('HTML');
    expect(call.payload.text).toContain('No conozco a @&lt;b&gt;x&lt;/b&gt;&amp;');
  });

  it('a 4,000-letter @name: the reply is shortened, delivered and the update done (no "Algo salió mal")', async () => {
    const ana = await person('ana', 10);
    t.telegram.reset();
    const u = textUpdate(ana.tg, `/regalar 5 @${'a'.repeat(4000)}`);
    expect((await t.post(u)).status).toBe(200);
    expect(await updateStatus(u.update_id)).toBe('done');
    const text = String(t.telegram.callsOf('sendMessage').at(-1)!.payload.text);
    expect(text).toMatch(/^No conozco a @a{30}…/);
    expect(visibleLength(text)).toBeLessThan(200);
  });

  it('every text is cut to 4096 visible characters, whatever a feature builds', async () => {
    const id = uniqueTelegramId();
    t.telegram.reset();
    await t.post(textUpdate(id, '/start', { firstName: 'x' }));
    // A client with the conventions every feature's client gets: a 10,000-character HTML text arrives cut, tags closed.
    const client = new Telegram(TEST_TOKEN, { apiRoot: t.telegram.url });
    withReplyConventions(client);
    await client.sendMessage(id, `<b>${'y'.repeat(10_000)}</b>`);
    const sent = t.telegram.callsOf('sendMessage').at(-1)!;
    expect(sent.payload.text).toBe(`<b>${'y'.repeat(4095)}…</b>`);
  });
});

describe('a warm Spanish first contact', () => {
  it('plain text gets a hint with the main buttons, at most once every few minutes; the buttons work', async () => {
    const id = uniqueTelegramId();
    t.telegram.reset();
    await t.post(textUpdate(id, 'hola diana', { firstName: 'Rosa' }));
    await t.post(textUpdate(id, 'quiero besitos', { firstName: 'Rosa' }));
    const sent = t.telegram.callsOf('sendMessage').filter((c) => Number(c.payload.chat_id) === id);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.payload.text).toContain('¡Hola, Rosa!');
    expect(buttonsOf(sent[0])).toEqual(['m:regalo', 'm:saldo', 'm:ayuda']);
    await t.post(callbackUpdate(id, 'm:regalo'));
    expect(t.telegram.sentTexts(id).at(-1)).toMatch(/Recibiste <b>10 besitos<\/b>/);
    await t.post(callbackUpdate(id, 'm:saldo'));
    expect(t.telegram.sentTexts(id).at(-1)).toContain('Tienes <b>10 besitos</b>');
    await t.post(callbackUpdate(id, 'm:ayuda'));
    expect(t.telegram.sentTexts(id).at(-1)).toContain('Comandos de DianaBot');
    // After the quiet period, plain text is answered again.
    await kv.del(`hint:${id}`);
    await t.post(textUpdate(id, 'otra vez'));
    expect(t.telegram.sentTexts(id).at(-1)).toContain('Por ahora converso con comandos y botones');
  });

  it('plain text in a group is not answered', async () => {
    const id = uniqueTelegramId();
    t.telegram.reset();
    const u = textUpdate(id, 'hola a todos');
    (u.message.chat as Record<string, unknown>) = { id: -100888, title: 'Grupo', type: 'supergroup' };
    await t.post(u);
    expect(t.telegram.callsOf('sendMessage')).toHaveLength(0);
  });

  it('/ayuda, Spanish names first (English kept), commands in any case', async () => {
    const id = uniqueTelegramId();
    t.telegram.reset();
    await t.post(textUpdate(id, '/ayuda'));
    const help = t.telegram.sentTexts(id).at(-1)!;
    expect(help.indexOf('/regalo')).toBeLessThan(help.indexOf('/daily'));
    expect(help.indexOf('/saldo')).toBeLessThan(help.indexOf('/balance'));
    expect(help).not.toContain('No se pierden nunca');
    await t.post(textUpdate(id, '/Daily'));
    expect(t.telegram.sentTexts(id).at(-1)).toMatch(/Recibiste/);
    await t.post(textUpdate(id, '/SALDO@DianaTestBot'));
    expect(t.telegram.sentTexts(id).at(-1)).toContain('Tienes <b>10 besitos</b>');
    await t.post(textUpdate(id, '/HELP'));
    expect(t.telegram.sentTexts(id).at(-1)).toContain('Comandos de DianaBot');
    const { commandMenu } = await import('../../lib/bot/features/index.js');
    const names = commandMenu.map((c) => c.command);
    expect(names).toEqual(expect.arrayContaining(['regalo', 'saldo', 'historial', 'ayuda']));
    expect(names).not.toContain('daily');
    expect(names).not.toContain('help');
  });
});

describe('keyboards are closed on time by the scheduler (keyboard.close jobs)', async () => {
  let now = Date.now();
  const c = await startTestApp({ RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000', UNDO_WINDOW_SECONDS: '60' }, { kv: createMemoryStore(), clock: () => new Date(now) });
  async function who(name: string, besitos = 0) {
    const tg = uniqueTelegramId();
    const username = `${name}_${tg}`.slice(0, 32);
    await c.post(textUpdate(tg, '/start', { firstName: name, username }));
    const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
    if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
    return { tg, id: row!.id, username };
  }
  const editsOf = (messageId: number) => c.telegram.callsOf('editMessageText').filter((x) => x.payload.message_id === messageId);

  it('an unanswered confirmation loses its buttons at its deadline; a replaced one is not closed twice', async () => {
    const ana = await who('ana', 50);
    const beto = await who('beto');
    c.telegram.reset();
    await c.post(textUpdate(ana.tg, `/regalar 5 @${beto.username}`));
    const first = lastTo(c.telegram, 'sendMessage', ana.tg, /^¿Regalar/)!;
    await c.post(textUpdate(ana.tg, `/regalar 6 @${beto.username}`));
    const second = lastTo(c.telegram, 'sendMessage', ana.tg, /^¿Regalar/)!;
    await c.app.scheduler.sweep();
    expect(editsOf(second.result.message_id)).toHaveLength(0); // not yet
    now += 121_000;
    await c.app.scheduler.sweep();
    const closed = editsOf(second.result.message_id);
    expect(closed).toHaveLength(1);
    expect(String(closed[0]!.payload.text)).toMatch(/^¿Regalar <b>6 besitos<\/b>[\s\S]*⌛ Caducó a (?:la 01|las (?!01)\d\d):\d\d\./);
    expect(buttonsOf(closed[0])).toEqual([]);
    expect(editsOf(first.result.message_id)).toHaveLength(1); // only the "reemplazada" edit
  });

  it('the undo button goes when its window ends (with the sentence offering it), unless the gift was undone', async () => {
    const ana = await who('ana', 50);
    const beto = await who('beto');
    const gift = async () => {
      await c.post(textUpdate(ana.tg, `/regalar 5 @${beto.username}`));
      const confirm = lastTo(c.telegram, 'sendMessage', ana.tg, /^¿Regalar/)!;
      const yes = buttonsOf(confirm).find((d) => d.startsWith('g:y:'))!;
      await c.post(callbackUpdate(ana.tg, yes, { messageId: confirm.result.message_id }));
      const done = editsOf(confirm.result.message_id).at(-1)!;
      expect(String(done.payload.text)).toMatch(/Puedes deshacerlo hasta (?:la 01|las (?!01)\d\d):\d\d\./);
      return { messageId: confirm.result.message_id as number, undo: buttonsOf(done)[0]! };
    };
    c.telegram.reset();
    const kept = await gift();
    const undone = await gift();
    await c.post(callbackUpdate(ana.tg, undone.undo, { messageId: undone.messageId }));
    const undoneEdits = editsOf(undone.messageId).length;
    now += 61_000;
    await c.app.scheduler.sweep();
    const last = editsOf(kept.messageId).at(-1)!;
    expect(String(last.payload.text)).toMatch(/^🎁 Le regalaste <b>5 besitos<\/b>/);
    expect(String(last.payload.text)).not.toContain('deshacer');
    expect(buttonsOf(last)).toEqual([]);
    expect(editsOf(undone.messageId)).toHaveLength(undoneEdits); // "Regalo deshecho" stays as it is
    expect((await getBalance(db, beto.id)).besitos).toBe(5);
  });
});
