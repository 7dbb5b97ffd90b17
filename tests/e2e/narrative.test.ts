import { describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { cachedStoryContent } from '../../lib/narrative/index.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { fixtureIndex } from '../support/story-fixture.js';

const content = fixtureIndex();
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' }, { story: cachedStoryContent(async () => content) });
const { app, telegram } = t;
const db = app.db;

const texts = (tg: number) => telegram.sentTexts(tg);
const lastText = (tg: number) => texts(tg).at(-1) ?? '';
const lastButtons = (tg: number) => buttonsOf(lastTo(telegram, 'sendMessage', tg));
const lastNotice = () => cbAnswers(telegram).at(-1)?.text;
async function ok(update: unknown) {
  const r = await t.post(update);
  expect(r.status).toBe(200);
}
const press = (tg: number, data: string) => ok(callbackUpdate(tg, data));
const userId = async (tg: number) => Number((await db`SELECT id FROM users WHERE telegram_id = ${tg}`)[0]!.id);
const balance = async (tg: number) => Number((await db`SELECT besitos FROM user_balances WHERE user_id = ${await userId(tg)}`)[0]!.besitos);

describe('the story in Telegram (webhook → Bot API stand-in)', () => {
  it('plays: intro, media, Continuar, decisions, double tap, foreign/forged/old buttons, riddle, dice, VIP lock', async () => {
    const tg = uniqueTelegramId();
    await ok(textUpdate(tg, '/historia'));
    expect(texts(tg)[0]).toMatch(/Nivel 1 · Uno/);
    expect(telegram.callsOf('sendPhoto').at(-1)!.payload).toMatchObject({ chat_id: tg, photo: 'https://example.com/diana.jpg', caption: 'Diana' });
    expect(lastText(tg)).toMatch(/<b>Diana:<\/b>\nHola\./);
    const [cont] = lastButtons(tg);
    expect(cont).toMatch(/^h:c:/);

    // Continuar: the old message loses its buttons, the next fragment comes with its decisions.
    await press(tg, cont!);
    expect(telegram.callsOf('editMessageReplyMarkup').at(-1)!.payload).toMatchObject({ chat_id: tg });
    expect(lastText(tg)).toMatch(/¿A dónde\?[\s\S]*\+5 besitos/);
    const decisions = lastButtons(tg);
    expect(decisions).toHaveLength(3); // jardín, volver, camerino (the key and the "any" door are hidden)
    // The same button again: a short notice, nothing sent.
    const sent = texts(tg).length;
    await press(tg, cont!);
    expect(lastNotice()).toMatch(/ya no está activo/);
    expect(texts(tg)).toHaveLength(sent);

    // Foreign, forged, malformed and other-version buttons.
    const other = uniqueTelegramId();
    await ok(textUpdate(other, '/historia'));
    await press(other, decisions[0]!);
    expect(lastNotice()).toBe('Ese botón no es tuyo.');
    await press(tg, 'h:d:zz');
    expect(lastNotice()).toBe('Botón no válido.');
    await press(tg, decisions[0]!.replace(/^(h:d:[0-9a-z]+:)[0-9a-f]{8}/, '$1deadbeef'));
    expect(lastNotice()).toMatch(/se actualizó/);
    await press(tg, decisions[0]!.replace(/:0$/, ':7'));
    expect(lastNotice()).toBe('Esa opción no está disponible.');
    expect(texts(tg)).toHaveLength(sent);

    // Two taps of one decision at once: one choice (one riddle sent), one reward.
    await Promise.all([press(tg, decisions[0]!), press(tg, decisions[0]!)]);
    expect(texts(tg).filter((x) => /brilla de noche/.test(x))).toHaveLength(1);
    expect(await balance(tg)).toBe(8);

    // Riddle answers as text: 4,096 characters, then emoji only → Spanish "no"; then the answer.
    await ok(textUpdate(tg, 'x'.repeat(4096)));
    expect(lastText(tg)).toMatch(/No es esa respuesta\. Pista: Mira arriba\. Te queda 1 intento\./);
    await ok(textUpdate(tg, 'LA LÚNA'));
    expect(lastText(tg)).toMatch(/Lanza\.[\s\S]*\+7 besitos/);

    // Dice: Telegram's value picks the branch (2 → e, level 2).
    telegram.diceValue = 2;
    const [roll] = lastButtons(tg);
    expect(roll).toMatch(/^h:r:/);
    await press(tg, roll!);
    expect(telegram.callsOf('sendDice').at(-1)!.payload).toMatchObject({ chat_id: tg, emoji: '🎲' });
    expect(texts(tg).at(-2)).toMatch(/Nivel 2 · Dos/);
    expect(lastText(tg)).toMatch(/Sigue\./);
    await press(tg, roll!); // a second throw of the same screen: notice, no dice
    expect(telegram.callsOf('sendDice')).toHaveLength(1);

    // VIP level: locked for a free user, pointer to /vip; nothing moves.
    const [toVip] = lastButtons(tg);
    await press(tg, toVip!);
    expect(lastText(tg)).toMatch(/solo para VIP[\s\S]*\/vip/);
    await db`UPDATE users SET status = 'vip' WHERE telegram_id = ${tg}`;
    await press(tg, toVip!);
    expect(lastText(tg)).toMatch(/Exclusivo\.[\s\S]*Fin de este camino/);

    // The map and the profile.
    await ok(textUpdate(tg, '/niveles'));
    expect(lastText(tg)).toMatch(/Nivel 1 · Uno<\/b> — 4\/6/);
    expect(lastText(tg)).toMatch(/✅ <b>Nivel 3 · Tres<\/b> 👑 — 1\/1/);
    await ok(textUpdate(tg, '/perfil'));
    expect(lastText(tg)).toMatch(/📖 Historia<\/b>\nNivel 3 · 6 fragmentos completados/);
    // Every move is in /actividad.
    await ok(textUpdate(tg, '/actividad'));
    expect(lastText(tg)).toMatch(/Historia: «Al jardín»/);
  });

  it('premium: price and balance, not enough → clear message; then one spend however often confirmed', async () => {
    const tg = uniqueTelegramId();
    await ok(textUpdate(tg, '/historia'));
    await press(tg, lastButtons(tg)[0]!);
    const camerino = lastButtons(tg)[2]!;
    await press(tg, camerino);
    expect(lastText(tg)).toMatch(/Camerino<\/b> es un fragmento premium\.\nCuesta <b>30 besitos<\/b> y tienes 5 besitos/);
    const [yes, no] = lastButtons(tg);
    await press(tg, yes!);
    expect(lastText(tg)).toMatch(/No te alcanza: cuesta 30 besitos y tienes 5 besitos/);
    expect(await balance(tg)).toBe(5);
    await press(tg, no!);
    expect(telegram.callsOf('editMessageText').at(-1)!.payload.text).toMatch(/sigue cuando quieras/);

    await grantBesitos(db, { userId: await userId(tg), amount: 40, source: 'admin', idempotencyKey: `e2e:${tg}` });
    await Promise.all([press(tg, yes!), press(tg, yes!), press(tg, yes!)]);
    expect(await balance(tg)).toBe(15);
    expect(texts(tg).filter((x) => /Privado\./.test(x))).toHaveLength(1);
    expect(texts(tg).filter((x) => /Desbloqueado por 30 besitos/.test(x))).toHaveLength(1);
  });

  it('trivia: buttons, one answer per question, late answers get nothing', async () => {
    const tg = uniqueTelegramId();
    await ok(textUpdate(tg, '/trivia'));
    expect(lastText(tg)).toMatch(/¿Nombre\?[\s\S]*Tienes 30 segundos/);
    const options = lastButtons(tg);
    expect(options).toHaveLength(2);
    await Promise.all([press(tg, options[0]!), press(tg, options[0]!)]);
    expect(texts(tg).filter((x) => /¡Correcto! \+5 besitos/.test(x))).toHaveLength(1);
    expect(cbAnswers(telegram).some((a) => a.text === 'Ya respondiste esta pregunta.')).toBe(true);
    expect(await balance(tg)).toBe(5);
    await ok(textUpdate(tg, '/trivia'));
    expect(lastText(tg)).toMatch(/No hay trivias nuevas/);
    // A forged answer to a question never sent.
    await press(tg, `tv:${(await userId(tg)).toString(36)}:t1:1`);
    expect(lastNotice()).toBe('Esa opción no está disponible.');
  });
});
