import { describe, expect, it } from 'vitest';
import telegramHandler from '../../api/telegram.js';
import { setApp } from '../../lib/app.js';
import { callbackUpdate, startTestApp, TEST_SECRET, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { cbAnswers, lastTo } from '../support/users.js';

/**
 * A new user plays the sample story (content/, published as the active version by the test setup)
 * through api/telegram.ts: /start, level 1 to its end (a riddle, a secret, the dice), into level 2,
 * buys the premium camerino, meets the VIP lock, answers a trivia.
 */
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' });
const { app, telegram } = t;
setApp(app);

async function post(update: unknown): Promise<number> {
  let status = 0;
  let body = '';
  let contentType: string | undefined;
  const res = {
    status: (c: number) => ((status = c), res),
    setHeader: (_name: string, value: string) => ((contentType = value), res),
    send: (b: string) => ((body = b), res),
    json: () => res,
  };
  await telegramHandler({ method: 'POST', headers: { 'x-telegram-bot-api-secret-token': TEST_SECRET }, body: update } as never, res as never);
  telegram.webhookReply({ status, body, contentType }); // Telegram runs a webhook reply (a button's answer)
  return status;
}

const buttons = (tg: number) => {
  const markup = lastTo(telegram, 'sendMessage', tg)?.payload.reply_markup;
  const kb = typeof markup === 'string' ? JSON.parse(markup) : markup;
  return (kb?.inline_keyboard ?? []).flat() as { text: string; callback_data: string }[];
};
const lastText = (tg: number) => telegram.sentTexts(tg).at(-1) ?? '';
async function choose(tg: number, label: RegExp) {
  const b = buttons(tg).find((x) => label.test(x.text));
  if (!b) throw new Error(`no button ${label} in: ${lastText(tg).slice(0, 200)} [${buttons(tg).map((x) => x.text).join(' | ')}]`);
  expect(await post(callbackUpdate(tg, b.callback_data))).toBe(200);
}
const say = async (tg: number, text: string) => expect(await post(textUpdate(tg, text))).toBe(200);
const balance = async (tg: number) =>
  Number((await app.db`SELECT b.besitos FROM user_balances b JOIN users u ON u.id = b.user_id WHERE u.telegram_id = ${tg}`)[0]!.besitos);

describe('the sample story through api/telegram.ts', () => {
  it('level 1 to its end, a secret, the premium camerino, the VIP lock and a trivia', async () => {
    const tg = uniqueTelegramId();
    await say(tg, '/start');
    await say(tg, '/historia');
    expect(telegram.sentTexts(tg).some((x) => /Nivel 1 · La invitación/.test(x))).toBe(true);
    await choose(tg, /Continuar/); // prologo → portal
    await choose(tg, /Decirle tu nombre/);
    await choose(tg, /Continuar/); // presentacion → vestibulo
    await choose(tg, /biblioteca/);
    await say(tg, 'una mesa'); // wrong
    expect(lastText(tg)).toMatch(/No es esa respuesta\. Pista:/);
    await say(tg, '  Un AGUJERO ');
    expect(telegram.sentTexts(tg).some((x) => /Descubriste un secreto/.test(x))).toBe(true);
    await choose(tg, /Continuar/); // diario → salon
    await choose(tg, /observándola/);
    await choose(tg, /Continuar/); // observar → brindis
    await choose(tg, /Por los secretos/);
    telegram.diceValue = 5;
    await choose(tg, /Lanzar/);
    await choose(tg, /Continuar/); // suerte_favorable → despedida
    await choose(tg, /Prometer que volverás/); // the end of level 1: into level 2
    expect(telegram.sentTexts(tg).some((x) => /Nivel 2 · El jardín de los secretos/.test(x))).toBe(true);
    const afterLevel1 = await balance(tg);
    expect(afterLevel1).toBe(46); // 3 + 10 (riddle) + 10 (secret) + 5 + 8 (dice) + 10
    const events = await app.db`SELECT type FROM outbox WHERE user_id = (SELECT id FROM users WHERE telegram_id = ${tg}) AND type IN ('narrative.level_completed', 'narrative.secret_discovered')`;
    expect(events.map((e) => e.type).sort()).toEqual(['narrative.level_completed', 'narrative.secret_discovered']);

    // Level 2 up to the premium camerino: price, balance, one payment.
    await choose(tg, /Continuar/); // jardin → fuente
    await choose(tg, /rosales/);
    await choose(tg, /Continuar/); // paseo → invernadero
    await choose(tg, /por Diana/);
    await choose(tg, /Continuar/); // lucien_confidencia → carta_roja
    const before = await balance(tg);
    await choose(tg, /camerino/);
    expect(lastText(tg)).toMatch(new RegExp(`Cuesta <b>30 besitos</b> y tienes ${before} besitos`));
    await choose(tg, /Desbloquear/);
    expect(await balance(tg)).toBe(before - 30); // its own reward comes when it is completed
    await choose(tg, /Continuar/); // camerino → mirador
    await choose(tg, /Tu verdad/);
    await choose(tg, /Continuar/); // verdad → reflejo
    await say(tg, 'el silencio');
    await choose(tg, /Cruzar la puerta roja/);
    expect(lastText(tg)).toMatch(/solo para VIP[\s\S]*\/vip/);

    // A trivia.
    await say(tg, '/trivia');
    expect(lastText(tg)).toMatch(/¿A qué huele la carta de Diana\?/);
    await choose(tg, /A jazmín/);
    expect(lastText(tg)).toMatch(/¡Correcto! \+5 besitos/);
    expect(cbAnswers(telegram).length).toBeGreaterThan(10);
  });
});
