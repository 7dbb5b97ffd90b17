/**
 * Fault: the Telegram Bot API answering 429 (with retry_after) and 5xx (BotApiStub.failNext).
 * Replies are retried within the policy (lib/bot/telegram-retry.ts: 2 retries, retry_after up to
 * 5 s, else backoff); past it the webhook answers 503, Telegram redelivers, and the ledger replays —
 * money never moves twice because a reply failed.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { callbackUpdate, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { buttonsOf, lastTo } from '../support/users.js';
import { appName, balanceOfTelegram, faultApp, useAdminDb, userIdOf } from './support.js';

const admin = useAdminDb();
const slept: number[] = [];
const t = await faultApp(appName('botapi'), { WEBHOOK_MAX_ATTEMPTS: '3' }, {
  // The real policy's numbers; sleeping is recorded instead of waited, to keep the test fast.
  retryPolicy: { retries: 2, maxRetryAfterSeconds: 5, sleep: async (ms) => void slept.push(ms) },
});

beforeEach(() => {
  t.telegram.reset();
  slept.length = 0;
});

const ledgerRows = async (tg: number, source: string) =>
  (await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${await userIdOf(admin, tg)} AND source = ${source}`)[0]!.n;

describe('fault: Bot API 429 and 5xx', () => {
  it('429 retry_after=3 on the reply → waits 3 s (as told), resends once, 200; one grant', async () => {
    const tg = uniqueTelegramId();
    t.telegram.failNext('sendMessage', 1, 429, { parameters: { retry_after: 3 } });
    expect((await t.post(textUpdate(tg, '/daily'))).status).toBe(200);
    expect(slept).toEqual([3000]);
    expect(t.telegram.callsOf('sendMessage!failed')).toHaveLength(1);
    expect(t.telegram.sentTexts(tg).filter((x) => /Recibiste/.test(x))).toHaveLength(1);
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
  });

  it('two 502s then OK → backoff 100 ms, 200 ms, reply delivered, 200; one grant', async () => {
    const tg = uniqueTelegramId();
    t.telegram.failNext('sendMessage', 2, 502);
    expect((await t.post(textUpdate(tg, '/daily'))).status).toBe(200);
    expect(slept).toEqual([100, 200]);
    expect(t.telegram.sentTexts(tg)).toHaveLength(1);
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
  });

  it('500 three times (past the retries) → 503; the redelivered update replays the grant: the reply is sent, besitos move once', async () => {
    const tg = uniqueTelegramId();
    const update = textUpdate(tg, '/daily');
    t.telegram.failNext('sendMessage', 3, 500);
    expect((await t.post(update)).status).toBe(503);
    expect(await balanceOfTelegram(admin, tg)).toBe(10); // the grant committed before the reply failed
    expect(t.telegram.sentTexts(tg)).toHaveLength(0);
    expect((await t.post(update)).status).toBe(200);
    expect((await t.post(update)).status).toBe(200); // duplicate
    const texts = t.telegram.sentTexts(tg);
    expect(texts).toHaveLength(1);
    expect(texts[0]).toMatch(/Recibiste <b>10 besitos<\/b>/); // the retry tells the same story, not "ya reclamaste"
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
    expect(await ledgerRows(tg, 'daily')).toBe(1);
  });

  it('429 retry_after=30 (longer than the function should wait) → not waited: 503 at once, redelivery succeeds, one grant', async () => {
    const tg = uniqueTelegramId();
    const update = textUpdate(tg, '/daily');
    t.telegram.failNext('sendMessage', 1, 429, { parameters: { retry_after: 30 } });
    expect((await t.post(update)).status).toBe(503);
    expect(slept).toEqual([]);
    expect((await t.post(update)).status).toBe(200);
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
    expect(await ledgerRows(tg, 'daily')).toBe(1);
  });

  it('a Bot API that keeps failing → after WEBHOOK_MAX_ATTEMPTS (3) the update is acknowledged and kept as failed: no retry loop, money moved once', async () => {
    const tg = uniqueTelegramId();
    const update = textUpdate(tg, '/daily');
    t.telegram.failNext('*', 3 * 3, 500);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.post(update)).status);
    expect(statuses).toEqual([503, 503, 200, 200, 200]);
    const [row] = await admin<{ status: string; attempts: number }[]>`SELECT status, attempts FROM telegram_updates WHERE update_id = ${update.update_id}`;
    expect(row).toMatchObject({ status: 'failed', attempts: 3 });
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
    expect(await ledgerRows(tg, 'daily')).toBe(1);
  });

  it('a gift confirmation whose reply keeps failing → 503; the redelivered press does not transfer again', async () => {
    const ana = uniqueTelegramId();
    const beto = uniqueTelegramId();
    const betoName = `beto_${beto}`.slice(0, 32);
    await t.post(textUpdate(beto, '/start', { username: betoName }));
    await t.post(textUpdate(ana, '/daily'));
    await t.post(textUpdate(ana, `/regalar 6 @${betoName}`));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana, /Regalar/)).find((d) => d.startsWith('g:y:'))!;
    expect(yes).toBeDefined();
    const press = callbackUpdate(ana, yes);
    // The confirmation message's edit (the press's answer to its query travels in the webhook response).
    t.telegram.failNext('editMessageText', 3, 503);
    expect((await t.post(press)).status).toBe(503);
    expect(await balanceOfTelegram(admin, ana)).toBe(4);
    expect((await t.post(press)).status).toBe(200);
    expect((await t.post(callbackUpdate(ana, yes))).status).toBe(200);
    expect(await balanceOfTelegram(admin, ana)).toBe(4);
    expect(await balanceOfTelegram(admin, beto)).toBe(6);
    expect(await ledgerRows(ana, 'gift')).toBe(1);
  });

  it('a 400 from the Bot API (e.g. "message to edit not found") is not transient: acknowledged, kept as failed, never retried', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/start')); // button presses act only for registered users
    const update = callbackUpdate(tg, 'hist:999999999');
    t.telegram.failNext('editMessageText', 1, 400, { description: 'Bad Request: message to edit not found' });
    expect((await t.post(update)).status).toBe(200);
    const [row] = await admin<{ status: string }[]>`SELECT status FROM telegram_updates WHERE update_id = ${update.update_id}`;
    expect(row?.status).toBe('failed');
    expect(slept).toEqual([]);
  });

  it('a press answers its spinner in the webhook response, not as a request; a failed press carries no answer, its redelivery does', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/daily'));
    t.telegram.reset();
    const press = callbackUpdate(tg, 'hist:999999999999');
    t.telegram.failNext('editMessageText', 3, 502);
    const failed = await t.post(press);
    expect(failed).toMatchObject({ status: 503 });
    expect(failed.contentType).toBeUndefined();
    const res = await t.post(press);
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({ method: 'answerCallbackQuery', callback_query_id: press.callback_query.id });
    // No request of the bot answered the query: the one answer is the webhook reply, run after the edit.
    const answers = t.telegram.calls.filter((c) => c.method.startsWith('answerCallbackQuery'));
    expect(answers.map((c) => c.viaWebhookReply)).toEqual([true]);
    expect(t.telegram.calls.at(-1)!.method).toBe('answerCallbackQuery');
    // A duplicate delivery of a handled press answers nothing (it is acknowledged without effect).
    expect(await t.post(press)).toEqual({ status: 200, body: 'duplicate' });
  });
});
