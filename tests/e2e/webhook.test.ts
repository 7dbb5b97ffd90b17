import { beforeEach, describe, expect, it } from 'vitest';
import { callbackUpdate, nextUpdateId, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';

const t = await startTestApp();
const { app, telegram, post } = t;

async function balanceOf(telegramId: number): Promise<number | undefined> {
  const [row] = await app.db<{ besitos: number }[]>`
    SELECT b.besitos FROM users u JOIN user_balances b ON b.user_id = u.id WHERE u.telegram_id = ${telegramId}`;
  return row?.besitos;
}

beforeEach(() => telegram.reset());

describe('webhook end to end (real handler, real Postgres, local Bot API stub)', () => {
  it('/start registers the user and answers in Spanish with a sendMessage call', async () => {
    const id = uniqueTelegramId();
    const res = await post(textUpdate(id, '/start', { firstName: 'Lucía' }));
    expect(res.status).toBe(200);
    const [call] = telegram.callsOf('sendMessage');
    expect(call?.payload.chat_id).toBe(id);
    expect(call?.payload.text).toContain('¡Hola, <b>Lucía</b>!');
    expect(call?.payload.parse_mode).toBe('HTML');
    expect(await balanceOf(id)).toBe(0);
  });

  it('/daily grants 10 besitos once, tells the streak and when the next gift is ready', async () => {
    const id = uniqueTelegramId();
    await post(textUpdate(id, '/daily'));
    await post(textUpdate(id, '/daily'));
    const [first, second] = telegram.sentTexts(id);
    expect(first).toMatch(/Recibiste <b>10 besitos<\/b>/);
    expect(first).toMatch(/Racha: <b>1 día<\/b>/);
    expect(first).toMatch(/próximo regalo estará listo mañana a las 00:00 \(hora del centro de México\)\./);
    expect(second).toMatch(/Ya reclamaste tu regalo de hoy/);
    expect(await balanceOf(id)).toBe(10);
  });

  it('/daily runs as a command: one action row with its result, committed with the grant', async () => {
    const id = uniqueTelegramId();
    const update = textUpdate(id, '/daily');
    await post(update);
    await post(textUpdate(id, '/daily')); // turned away by the cache: no state change, no action
    const actions = await app.db<{ name: string; status: string; idempotency_key: string; result: { status: string; amount: number } }[]>`
      SELECT a.name, a.status, a.idempotency_key, a.result FROM actions a JOIN users u ON u.id = a.user_id WHERE u.telegram_id = ${id}`;
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ name: 'daily', status: 'done', idempotency_key: `update:${update.update_id}`, result: { status: 'granted', amount: 10 } });
  });

  it('the first page of /history reached from a button (hist:0) is titled as the first page', async () => {
    const id = uniqueTelegramId();
    await post(textUpdate(id, '/daily'));
    telegram.reset();
    await post(callbackUpdate(id, 'hist:0'));
    expect(telegram.sentTexts(id)[0]).toContain('Tus últimos movimientos');
  });

  it('the same update posted 3 times, also concurrently: one effect, one reply', async () => {
    const id = uniqueTelegramId();
    const update = textUpdate(id, '/daily');
    const sequential = [await post(update), await post(update), await post(update)];
    expect(sequential.map((r) => r.status)).toEqual([200, 200, 200]);
    const concurrentUpdate = textUpdate(uniqueTelegramId(), '/daily');
    const concurrent = await Promise.all([post(concurrentUpdate), post(concurrentUpdate), post(concurrentUpdate)]);
    // One delivery handles it; a copy arriving meanwhile gets 503 "in progress" (never a silent 200 that
    // could lose the update if the handling delivery dies), and a later copy gets 200 "duplicate".
    expect(concurrent.filter((r) => r.body === 'ok')).toHaveLength(1);
    expect(concurrent.every((r) => r.body === 'ok' || r.body === 'duplicate' || (r.status === 503 && r.body === 'in progress'))).toBe(true);
    expect(await post(concurrentUpdate)).toEqual({ status: 200, body: 'duplicate' });
    expect(telegram.callsOf('sendMessage')).toHaveLength(2);
    expect(await balanceOf(id)).toBe(10);
    expect(await balanceOf(concurrentUpdate.message.from.id)).toBe(10);
  });

  it('a copy arriving while another delivery holds the update gets 503 until that one finishes or its lease expires', async () => {
    const id = uniqueTelegramId();
    const update = textUpdate(id, '/daily');
    // A delivery that died without recording anything: the row stays 'processing' under its lease.
    await app.db`INSERT INTO telegram_updates (update_id, kind, from_id, status, locked_until) VALUES (${update.update_id}, 'message', ${id}, 'processing', now() + interval '60 seconds')`;
    expect(await post(update)).toEqual({ status: 503, body: 'in progress' });
    expect(await balanceOf(id)).toBeUndefined();
    await app.db`UPDATE telegram_updates SET locked_until = now() - interval '1 second' WHERE update_id = ${update.update_id}`;
    expect(await post(update)).toEqual({ status: 200, body: 'ok' }); // the lease expired: this delivery takes over
    expect(await balanceOf(id)).toBe(10);
  });

  it('wrong or missing secret → 401 and nothing changes', async () => {
    const id = uniqueTelegramId();
    for (const secret of [null, 'wrong', '', 'x'.repeat(300)]) {
      const res = await post(textUpdate(id, '/daily'), secret);
      expect(res.status).toBe(401);
    }
    expect(telegram.calls).toHaveLength(0);
    expect(await balanceOf(id)).toBeUndefined();
  });

  it('malformed bodies → 400, no state change, no crash', async () => {
    for (const body of ['not json', '[]', '{"message":{}}', '{"update_id":-1}', '{"update_id":"12"}', 'null', '']) {
      const res = await post(body);
      expect(res.status).toBe(400);
    }
    expect(telegram.calls).toHaveLength(0);
  });

  it('unknown update kinds and channel posts without from → 200, recorded, nothing sent', async () => {
    const updates = [
      { update_id: nextUpdateId(), some_future_kind: { foo: 1 } },
      { update_id: nextUpdateId(), channel_post: { message_id: 5, sender_chat: { id: -1001, title: 'Canal', type: 'channel' }, chat: { id: -1001, title: 'Canal', type: 'channel' }, date: 1700000000, text: '/daily' } },
    ];
    for (const u of updates) {
      expect((await post(u)).status).toBe(200);
      expect((await post(u)).body).toBe('duplicate');
    }
    expect(telegram.calls).toHaveLength(0);
    const rows = await app.db`SELECT status, payload FROM telegram_updates WHERE update_id IN ${app.db(updates.map((u) => u.update_id))}`;
    expect(rows.map((r) => r.status)).toEqual(['done', 'done']);
    expect(rows.every((r) => r.payload === null)).toBe(true);
  });

  it('commands addressed as /balance@BotName work in groups', async () => {
    const id = uniqueTelegramId();
    const update = textUpdate(id, '/balance@DianaTestBot');
    (update.message.chat as Record<string, unknown>) = { id: -100777, title: 'Grupo', type: 'supergroup' };
    await post(update);
    const [call] = telegram.callsOf('sendMessage');
    expect(call?.payload.chat_id).toBe(-100777);
    expect(call?.payload.text).toContain('Tienes <b>0 besitos</b>');
  });

  it('/history lists movements with the "Más" button paging older ones', async () => {
    const id = uniqueTelegramId();
    await post(textUpdate(id, '/start'));
    const [owner] = await app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${id}`;
    const userId = owner!.id;
    const { grantBesitos } = await import('../../lib/besitos/ledger.js');
    for (let i = 1; i <= 12; i++) await grantBesitos(app.db, { userId, amount: i, source: 'mission', idempotencyKey: `hist:${userId}:${i}` });
    telegram.reset();
    await post(textUpdate(id, '/history'));
    const first = telegram.callsOf('sendMessage')[0]!;
    expect(first.payload.text).toContain('Tus últimos movimientos');
    expect(first.payload.text.match(/Misión/g)).toHaveLength(10);
    const button = first.payload.reply_markup.inline_keyboard[0][0];
    expect(button.text).toBe('Más ▸');
    telegram.reset();
    // "Más ▸" pages in place: the message is edited, nothing new is posted; pressed again, still nothing new.
    await post(callbackUpdate(id, button.callback_data, { messageId: first.payload.message_id ?? 1 }));
    await post(callbackUpdate(id, button.callback_data, { messageId: first.payload.message_id ?? 1 }));
    expect(telegram.callsOf('answerCallbackQuery')).toHaveLength(2);
    expect(telegram.callsOf('sendMessage')).toHaveLength(0);
    const page2 = telegram.callsOf('editMessageText')[0]!;
    expect(page2.payload.text.match(/Misión/g)).toHaveLength(2);
    expect(page2.payload.reply_markup.inline_keyboard[0].map((b: { text: string }) => b.text)).toEqual(['◂ Más recientes']);
    telegram.reset();
    await post(callbackUpdate(id, 'hist:top'));
    expect(telegram.callsOf('editMessageText')[0]!.payload.text.match(/Misión/g)).toHaveLength(10);
  });

  it('an unknown command gets a helpful Spanish answer; user text is escaped', async () => {
    const id = uniqueTelegramId();
    await post(textUpdate(id, '/nosequees'));
    expect(telegram.sentTexts(id)[0]).toContain('No conozco ese comando');
    await post(textUpdate(id, '/start', { firstName: '<b>x</b> & \'; DROP TABLE users;--' }));
    // Escaped, and shortened for display (32 characters at most, "…" at the cut).
    expect(telegram.sentTexts(id)[1]).toContain(`<b>&lt;b&gt;x&lt;/b&gt; &amp; '; DROP TABLE users;…</b>`);
    expect(telegram.callsOf('sendMessage')[1]!.payload.parse_mode).toBe('HTML');
  });

  it('/start with a deep-link payload keeps the first payload', async () => {
    const id = uniqueTelegramId();
    await post(textUpdate(id, '/start promo_2026'));
    await post(textUpdate(id, '/start otra'));
    const [row] = await app.db<{ metadata: Record<string, string> }[]>`SELECT metadata FROM users WHERE telegram_id = ${id}`;
    expect(row!.metadata.start_payload).toBe('promo_2026');
  });

  it('Bot API 5xx on the reply: 503 so Telegram retries; the retry answers without moving money twice', async () => {
    const id = uniqueTelegramId();
    const update = textUpdate(id, '/daily');
    telegram.failNext('sendMessage', 3, 502); // first try + 2 retries inside the request
    const first = await post(update);
    expect(first.status).toBe(503);
    expect(await balanceOf(id)).toBe(10); // the effect is durable
    const retry = await post(update);
    expect(retry.status).toBe(200);
    const sent = telegram.sentTexts(id);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/Recibiste <b>10 besitos<\/b>/); // same answer as the first try would have given
    expect(await balanceOf(id)).toBe(10);
  });

  it('429 with retry_after is waited for and retried inside the request', async () => {
    const id = uniqueTelegramId();
    telegram.failNext('sendMessage', 1, 429, { parameters: { retry_after: 1 } });
    const started = Date.now();
    const res = await post(textUpdate(id, '/balance'));
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(telegram.sentTexts(id)).toHaveLength(1);
  });

  it('after the retry budget the update is acknowledged and kept as failed for admins', async () => {
    const id = uniqueTelegramId();
    const update = textUpdate(id, '/balance');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      telegram.failNext('sendMessage', 3, 500);
      statuses.push((await post(update)).status);
    }
    expect(statuses).toEqual([503, 503, 503, 503, 200, 200]);
    const [row] = await app.db<{ status: string; attempts: number; error: string; payload: unknown }[]>`
      SELECT status, attempts, error, payload FROM telegram_updates WHERE update_id = ${update.update_id}`;
    expect(row).toMatchObject({ status: 'failed', attempts: 5 });
    expect(row!.error).toMatch(/500/);
    expect(row!.payload).not.toBeNull();
  });
});
