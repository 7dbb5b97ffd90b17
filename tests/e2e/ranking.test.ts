import { afterAll, describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { uniqueTelegramId } from '../support/db.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';

/**
 * /ranking through the webhook (real Update JSON): on the in-memory store (empty at start: the board is
 * loaded from Postgres), kept in step by the gamification subscriber, first names only, «Anónimo» on
 * request, an erased user absent; with Redis down the same board from Postgres, in Spanish.
 */
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' });
const down = await createRedisStore('redis://127.0.0.1:1');
const broken = await startTestApp({}, { kv: down });
afterAll(() => down.close?.());
const db = t.app.db;

const settle = () => t.settle({ jobs: false });

let n = 0;
async function player(besitos: number) {
  const tg = uniqueTelegramId();
  const firstName = `Rk${++n}x Apellido`;
  await t.post(textUpdate(tg, '/start', { firstName, username: `secreto${tg}` }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  const id = Number(row!.id);
  await grantBesitos(db, { userId: id, amount: besitos, source: 'admin', idempotencyKey: `rk-e2e:${id}` });
  return { tg, id, first: `Rk${n}x` };
}

const boardText = (tg: number) => String(lastTo(t.telegram, 'sendMessage', tg, /Ranking/)?.payload.text ?? lastTo(t.telegram, 'editMessageText', tg, /Ranking/)?.payload.text);

describe('/ranking through the webhook', () => {
  it('shows the top with first names only, your place, both boards; «Anónimo» on request; an erased user disappears', async () => {
    const players = [];
    for (let i = 0; i < 12; i++) players.push(await player(1000 - i * 10));
    await settle();
    const [first, second] = players;
    const last = players.at(-1)!;

    await t.post(textUpdate(last.tg, '/ranking'));
    const msg = lastTo(t.telegram, 'sendMessage', last.tg, /Ranking semanal/)!;
    const text = String(msg.payload.text);
    expect(text).toContain(`🥇 ${first!.first} — ${(1000).toLocaleString('es-MX')}`);
    expect(text).toContain(`🥈 ${second!.first} — 990`);
    expect(text).not.toMatch(/Apellido|secreto/); // neither last names nor @usernames
    expect(text).toMatch(/Tu puesto: <b>\d+<\/b> con <b>890<\/b> besitos\./);
    expect(buttonsOf(msg)).toEqual(['rk:w', 'rk:a', 'rk:n:1:w']);

    // The all-time board, in place.
    await t.post(callbackUpdate(last.tg, 'rk:a'));
    expect(lastTo(t.telegram, 'editMessageText', last.tg, /Ranking histórico/)).toBeTruthy();

    // The leader asks to appear as «Anónimo» (pressed twice: once). (A button press carries the stub's
    // default first name, Ana: Telegram sends the current profile with every update.)
    const hide = callbackUpdate(first!.tg, 'rk:n:1:w');
    await Promise.all([t.post(hide), t.post(hide)]);
    expect(cbAnswers(t.telegram).some((a) => a.text === 'Listo: en el ranking apareces como «Anónimo».')).toBe(true);
    await t.post(textUpdate(last.tg, '/ranking'));
    expect(boardText(last.tg)).toContain(`🥇 Anónimo — ${(1000).toLocaleString('es-MX')}`);
    await t.post(callbackUpdate(first!.tg, 'rk:n:0:w'));
    await t.post(textUpdate(last.tg, '/ranking'));
    expect(boardText(last.tg)).toContain(`🥇 Ana — ${(1000).toLocaleString('es-MX')}`);

    // Earning moves you up (the subscriber keeps the set in step).
    await grantBesitos(db, { userId: last.id, amount: 5000, source: 'admin', idempotencyKey: `rk-e2e-more:${last.id}` });
    await settle();
    await t.post(textUpdate(last.tg, '/ranking'));
    expect(boardText(last.tg)).toContain(`<b>🥇 Ana — ${(5890).toLocaleString('es-MX')} ← tú</b>`);
    expect(boardText(last.tg)).toContain('Tu puesto: <b>1</b>');

    // /borrar: gone from the ranking.
    await t.post(textUpdate(last.tg, '/borrar'));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', last.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
    await t.post(callbackUpdate(last.tg, yes));
    await t.post(textUpdate(second!.tg, '/ranking'));
    const after = boardText(second!.tg);
    expect(after).toContain(`🥇 Ana — ${(1000).toLocaleString('es-MX')}`);
    expect(after).not.toContain((5890).toLocaleString('es-MX'));
  });

  it('with Redis down: the same board computed from Postgres, in Spanish, no crash', async () => {
    const someone = await player(3);
    await broken.post(textUpdate(someone.tg, '/ranking'));
    const sent = broken.telegram.sentTexts(someone.tg).at(-1)!;
    expect(sent).toContain('Ranking semanal');
    expect(sent).toContain('Calculado al momento: el marcador rápido no está disponible ahora.');
    expect(sent).toMatch(/🥇 \S+ — /);
    expect(sent).toMatch(/Tu puesto: <b>\d+<\/b> con <b>3<\/b> besitos\./);
  });
});
