import { describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { activateVersion, activeVersionId, loadContentFromDir, publishContent } from '../../lib/content/index.js';
import { createPostgresContentStore } from '../../lib/content/postgres.js';
import { triviaMultiplier } from '../../lib/gamification/shop.js';
import { uniqueTelegramId } from '../support/db.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { buttonsOf, lastTo } from '../support/users.js';

// The real catalogue: the active content version's (content/gamification, published with the story),
// which other e2e tests leave out.
const t = await startTestApp({}, { gamificationCatalogue: undefined });

const settle = () => t.settle();

describe('gamification through the webhook', () => {
  it('buy (double tap), complete a mission, unlock an achievement, be congratulated, use the item', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/start'));
    const [user] = await t.app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
    await grantBesitos(t.app.db, { userId: user!.id, amount: 500, source: 'admin', idempotencyKey: `e2e:${user!.id}` });

    await t.post(textUpdate(tg, '/tienda'));
    const home = lastTo(t.telegram, 'sendMessage', tg, /Tienda de Diana/);
    expect(buttonsOf(home)).toEqual(['tc:cosmetic', 'tc:narrative', 'tc:powerup']);
    await t.post(callbackUpdate(tg, 'tc:powerup'));
    const listing = lastTo(t.telegram, 'editMessageText', tg, /Potenciadores/);
    expect(listing!.payload.text).toMatch(/Amuleto del saber<\/b> — 150 besitos · 🟣 épica/);
    const buy = buttonsOf(listing).find((d) => d.startsWith('tb:'))!;
    expect(buy).toBe('tb:150:amuleto-trivia');
    // A forged price (an old content version) is refused without charging.
    await t.post(callbackUpdate(tg, 'tb:100:amuleto-trivia'));
    expect(lastTo(t.telegram, 'sendMessage', tg, /La tienda cambió/)).toBeTruthy();

    await t.post(callbackUpdate(tg, buy));
    const confirm = lastTo(t.telegram, 'sendMessage', tg, /^¿Compras/);
    expect(confirm!.payload.text).toContain('150 besitos');
    const yes = buttonsOf(confirm).find((d) => d.startsWith('ty:'))!;
    await Promise.all([t.post(callbackUpdate(tg, yes)), t.post(callbackUpdate(tg, yes))]);
    expect(lastTo(t.telegram, 'editMessageText', tg, /Compraste <b>Amuleto del saber<\/b>! Te quedan <b>350 besitos/)).toBeTruthy();
    const [spends] = await t.app.db`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${user!.id} AND source = 'shop'`;
    expect(spends!.n).toBe(1);

    await settle();
    // The purchase completed the "De compras" mission (30) and unlocked "Cliente VIP" (50 + Marco dorado).
    const sent = t.telegram.sentTexts(tg);
    expect(sent.filter((x) => x.includes('¡Misión cumplida: <b>De compras</b>!'))).toHaveLength(1);
    expect(sent.filter((x) => x.includes('¡Logro desbloqueado: <b>Cliente VIP</b>!'))).toHaveLength(1);
    const [bal] = await t.app.db`SELECT besitos FROM user_balances WHERE user_id = ${user!.id}`;
    expect(bal!.besitos).toBe(350 + 30 + 50);

    await t.post(textUpdate(tg, '/misiones'));
    expect(lastTo(t.telegram, 'sendMessage', tg, /Tus misiones/)!.payload.text).toMatch(/De compras<\/b> · Especial · 30 besitos\n.*\n▰▰▰▰▰ 1\/1  ✅ Cumplida/);
    await t.post(textUpdate(tg, '/logros'));
    expect(lastTo(t.telegram, 'sendMessage', tg, /Tus logros/)!.payload.text).toMatch(/🏆 <b>Cliente VIP<\/b>/);

    await t.post(textUpdate(tg, '/mochila'));
    const pack = lastTo(t.telegram, 'sendMessage', tg, /Tu mochila/);
    expect(pack!.payload.text).toMatch(/Amuleto del saber<\/b> ×1/);
    expect(pack!.payload.text).toMatch(/Marco dorado<\/b> ×1/);
    const use = buttonsOf(pack).find((d) => d.startsWith('mu:'))!;
    await Promise.all([t.post(callbackUpdate(tg, use)), t.post(callbackUpdate(tg, use))]);
    expect(t.telegram.sentTexts(tg).filter((x) => x.includes('activo: tus trivias dan el doble'))).toHaveLength(2); // the replay answers the same
    expect(await triviaMultiplier(t.app.db, user!.id, new Date())).toBe(2);
    const [uses] = await t.app.db`SELECT count(*)::int AS n FROM item_moves WHERE user_id = ${user!.id} AND kind = 'use'`;
    expect(uses!.n).toBe(1);

    // The power-up at work: a trivia answered now pays double (aroma_carta: 5 → 10).
    await t.post(textUpdate(tg, '/historia'));
    const cont = buttonsOf(lastTo(t.telegram, 'sendMessage', tg)).find((d) => d.startsWith('h:c:'))!;
    await t.post(callbackUpdate(tg, cont)); // completes the prologue, which opens the first question
    await t.post(textUpdate(tg, '/trivia'));
    const question = lastTo(t.telegram, 'sendMessage', tg);
    const right = buttonsOf(question).find((d) => d.startsWith('tv:') && d.endsWith(':aroma_carta:2'))!;
    expect(right).toBeTruthy();
    await t.post(callbackUpdate(tg, right));
    const [trivia] = await t.app.db`SELECT amount::int, metadata FROM transactions WHERE user_id = ${user!.id} AND source = 'trivia'`;
    expect(trivia).toMatchObject({ amount: 10, metadata: { base: 5, multiplier: 2 } });

    await t.post(textUpdate(tg, '/perfil'));
    // A section each, headed, in order: what the test did shows in every one of them.
    const profileMsg = lastTo(t.telegram, 'sendMessage', tg, /🎯 Misiones/)!;
    const profile = String(profileMsg.payload.text);
    expect([...profile.matchAll(/^<b>(.+?)<\/b>$/gm)].map((m) => m[1])).toEqual(['💰 Besitos', '📖 Historia', '🎯 Misiones', '🏅 Logros', '🎒 Mochila', '🤝 Invitaciones', '🏆 Ranking']);
    expect(profile).toContain('<b>💰 Besitos</b>\nBesitos: <b>490 besitos</b>\n🏆 Ganados en total: 640 besitos\n');
    expect(profile).toContain('<b>📖 Historia</b>\nNivel 1 · 1 fragmento completado');
    expect(profile).toContain('<b>🎯 Misiones</b>\nCumplidas: <b>1</b>');
    expect(profile).toContain('<b>🏅 Logros</b>\nDesbloqueados: <b>2</b>');
    expect(profile).toContain('<b>🎒 Mochila</b>\nObjetos: <b>1</b> (1 tipo) · potenciadores activos: <b>1</b>');
    expect(profile).toMatch(/<b>🤝 Invitaciones<\/b>\nAún no has invitado a nadie\.\nTu código: <code>[a-z0-9]{8}<\/code>/);
    expect(profile).toContain('<b>🏆 Ranking</b>\nEsta semana: puesto <b>1</b> con <b>640</b> besitos\nDe siempre: puesto <b>1</b> con <b>640</b> besitos\nApareces como <b>Ana</b> · /ranking');
    expect(buttonsOf(profileMsg)).toContain('ref:share');
  });

  it('buying without enough besitos is refused before and after confirming, nothing moves', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/start'));
    await t.post(callbackUpdate(tg, 'tb:900:corona-diana'));
    expect(lastTo(t.telegram, 'sendMessage', tg, /No te alcanza/)).toBeTruthy();
    expect(lastTo(t.telegram, 'sendMessage', tg, /^¿Compras/)).toBeUndefined();
    // A confirm button that was never opened for this user (forged, or someone else's): told, nothing bought.
    await t.post(callbackUpdate(tg, 'ty:12345:zzzzzz'));
    const [moves] = await t.app.db`SELECT count(*)::int AS n FROM item_moves m JOIN users u ON u.id = m.user_id WHERE u.telegram_id = ${tg}`;
    expect(moves!.n).toBe(0);
  });

  it('the catalogue is the active content version: a button of an older version is refused in Spanish, money intact', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/start'));
    const [user] = await t.app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
    await grantBesitos(t.app.db, { userId: user!.id, amount: 1000, source: 'admin', idempotencyKey: `e2e-version:${user!.id}` });
    await t.post(textUpdate(tg, '/tienda'));
    await t.post(callbackUpdate(tg, 'tc:powerup'));
    const oldBuy = buttonsOf(lastTo(t.telegram, 'editMessageText', tg, /Potenciadores/)).find((d) => d.startsWith('tb:'))!;
    await t.post(callbackUpdate(tg, oldBuy));
    const oldYes = buttonsOf(lastTo(t.telegram, 'sendMessage', tg, /^¿Compras/)).find((d) => d.startsWith('ty:'))!;

    // A new version is published (content:import): the amulet costs more, the crown is gone.
    const first = (await activeVersionId(t.app.db))!;
    const content = await loadContentFromDir();
    const next = {
      ...content,
      items: content.items.filter((i) => i.key !== 'corona-diana').map((i) => (i.key === 'amuleto-trivia' ? { ...i, price: 175 } : i)),
    };
    const published = await publishContent(t.app.db, createPostgresContentStore(t.app.db), next);
    expect(published.activated).toBe(true);
    try {
      // Confirming the purchase opened under the old version: refused, nothing charged.
      await t.post(callbackUpdate(tg, oldYes));
      expect(lastTo(t.telegram, 'editMessageText', tg, /La tienda cambió/)).toBeTruthy();
      // The old buy buttons: the changed price, and an item that is no longer in the catalogue.
      await t.post(callbackUpdate(tg, oldBuy));
      expect(lastTo(t.telegram, 'sendMessage', tg, /La tienda cambió/)).toBeTruthy();
      await t.post(callbackUpdate(tg, 'tb:900:corona-diana'));
      expect(lastTo(t.telegram, 'sendMessage', tg, /ya no está a la venta/)).toBeTruthy();
      const [bal] = await t.app.db`SELECT besitos FROM user_balances WHERE user_id = ${user!.id}`;
      expect(bal!.besitos).toBe(1000);
      const [moves] = await t.app.db`SELECT count(*)::int AS n FROM item_moves WHERE user_id = ${user!.id}`;
      expect(moves!.n).toBe(0);
      // The shop shows the new version's price.
      await t.post(callbackUpdate(tg, 'tc:powerup'));
      expect(lastTo(t.telegram, 'editMessageText', tg, /Potenciadores/)!.payload.text).toMatch(/Amuleto del saber<\/b> — 175 besitos/);
    } finally {
      await activateVersion(t.app.db, first);
    }
  });
});
