/**
 * An item flagged `auction_only` in the catalogue: /tienda does not list it, a forged buy button or a
 * forged purchase command is refused in Spanish with nothing moved, and an auction sells it.
 * Also the catalogue's validation: such an item has no stock or per-user limit and is nobody's reward.
 */
import { describe, expect, it } from 'vitest';
import { getBalance, grantBesitos } from '../../lib/besitos/ledger.js';
import { InsufficientFunds } from '../../lib/besitos/errors.js';
import { runCommand } from '../../lib/commands/index.js';
import { parseContent } from '../../lib/content/schema.js';
import { parseCatalogue } from '../../lib/gamification/content.js';
import { findAuction } from '../../lib/gamification/auctions/index.js';
import { decidePurchase, forSale } from '../../lib/gamification/rules-shop.js';
import { buyCommand, ShopRefused } from '../../lib/gamification/shop.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, lastTo } from '../support/users.js';

const ADMIN = uniqueTelegramId();
const velo = { key: 'velo-de-diana', name: 'Velo de Diana', description: 'Solo en subasta.', category: 'cosmetic', rarity: 'legendary', price: 500, auction_only: true };
const marco = { key: 'marco-dorado', name: 'Marco dorado', description: 'Un marco.', category: 'cosmetic', rarity: 'common', price: 80 };
const catalogue = parseCatalogue({ items: [velo, marco] });
let now = Date.now();
const t = await startTestApp(
  { ADMIN_USER_IDS: String(ADMIN), RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000' },
  { clock: () => new Date(now), gamificationCatalogue: () => catalogue },
);
const db = t.app.db;

async function person(besitos: number) {
  const tg = uniqueTelegramId();
  await t.post(textUpdate(tg, '/start'));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { tg, id: Number(row!.id) };
}
const lastText = (tg: number, method = 'sendMessage') => String(lastTo(t.telegram, method, tg)?.payload.text ?? '');

describe('auction-only items in the catalogue', () => {
  it('validation: no stock or per-user limit, never a mission, achievement or story reward', () => {
    expect(() => parseCatalogue({ items: [{ ...velo, stock: 3 }] })).toThrow(/auction-only item is not sold/);
    expect(() => parseCatalogue({ items: [{ ...velo, per_user_limit: 1 }] })).toThrow(/auction-only item is not sold/);
    const mission = { key: 'm1', title: 'M', description: 'D', type: 'special', requirement: { fact: 'daily_claimed', count: 1 }, reward: { besitos: 10, items: ['velo-de-diana'] } };
    expect(() => parseCatalogue({ items: [velo], missions: [mission] })).toThrow(/mission m1 rewards velo-de-diana, which is auction-only/);
    const achievement = { key: 'a1', title: 'A', description: 'D', rarity: 'common', reward: { item: 'velo-de-diana' } };
    expect(() => parseCatalogue({ items: [velo], achievements: [achievement] })).toThrow(/achievement a1 rewards velo-de-diana, which is auction-only/);
    const story = (items: unknown[]) =>
      parseContent(
        {
          start: 'f',
          levels: [{ number: 1, title: 'Uno', intro: 'Hola' }],
          fragments: [{ key: 'f', level: 1, title: 'T', narrator: 'Diana', text: 'Hola', ending: true, rewards: { items } }],
          items: [velo, marco],
        },
        'test',
      );
    expect(() => story(['marco-dorado'])).not.toThrow();
    const err = (() => {
      try {
        story(['velo-de-diana']);
      } catch (e) {
        return e as { problems?: string[] };
      }
    })();
    expect(err?.problems).toEqual(['fragment f: rewards item "velo-de-diana", which is auction-only']);
    expect(forSale(catalogue.items.get('velo-de-diana')!)).toBe(false);
    expect(forSale(catalogue.items.get('marco-dorado')!)).toBe(true);
    expect(decidePurchase(catalogue.items.get('velo-de-diana'), 1, { balance: 10_000, boughtByUser: 0, sold: 0 })).toEqual({ ok: false, reason: 'auction_only' });
  });

  it('/tienda does not list it; a forged buy button is refused in Spanish and nothing moves', async () => {
    const p = await person(1_000);
    await t.post(textUpdate(p.tg, '/tienda'));
    await t.post(callbackUpdate(p.tg, 'tc:cosmetic'));
    const listing = lastTo(t.telegram, 'editMessageText', p.tg, /Cosméticos/);
    expect(String(listing?.payload.text)).toContain('Marco dorado');
    expect(String(listing?.payload.text)).not.toContain('Velo de Diana');
    expect(buttonsOf(listing)).toEqual(expect.arrayContaining(['tb:80:marco-dorado']));
    expect(buttonsOf(listing).some((d) => d.includes('velo-de-diana'))).toBe(false);

    for (const forged of ['tb:500:velo-de-diana', 'tb:1:velo-de-diana']) {
      expect((await t.post(callbackUpdate(p.tg, forged))).status).toBe(200);
      expect(lastText(p.tg)).toBe('<b>Velo de Diana</b> no se vende en la tienda: solo se gana en una subasta. Mira las abiertas con /subastas.');
    }
    expect(t.telegram.callsOf('sendMessage').some((c) => c.payload.chat_id === p.tg && /^¿Compras/.test(String(c.payload.text)))).toBe(false);
    // The purchase command itself, as a forged confirmation would reach it: refused, no money, no item.
    const run = runCommand(db, buyCommand(catalogue), {
      userId: p.id,
      idempotencyKey: `forged:${p.id}`,
      params: { itemKey: 'velo-de-diana', price: 500 },
      now: new Date(now),
      isUserError: (e) => e instanceof ShopRefused || e instanceof InsufficientFunds,
    });
    await expect(run).rejects.toMatchObject({ name: 'ShopRefused', reason: 'auction_only' });
    expect((await getBalance(db, p.id)).besitos).toBe(1_000);
    const [moves] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM item_moves WHERE user_id = ${p.id}`;
    expect(moves!.n).toBe(0);
    const [inv] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM user_inventory WHERE user_id = ${p.id}`;
    expect(inv!.n).toBe(0);
  });

  it('an auction sells it: the winner finds it in the backpack', async () => {
    await t.post(textUpdate(ADMIN, '/start'));
    await t.post(textUpdate(ADMIN, '/subasta_nueva velo-de-diana 100 10 1h'));
    const id = Number(/Subasta #(\d+) creada/.exec(lastText(ADMIN))?.[1]);
    expect(id, lastText(ADMIN)).toBeGreaterThan(0);
    const p = await person(300);
    await t.post(textUpdate(p.tg, `/pujar #${id} 150`));
    now = (await findAuction(db, id))!.endsAt.getTime() + 1000;
    await t.app.bus.idle();
    await drainJobs(t.app, () => void (now += 10 * 60_000));
    expect(await findAuction(db, id)).toMatchObject({ status: 'ended', winnerId: p.id, price: 150 });
    const [inv] = await db<{ quantity: number }[]>`SELECT quantity FROM user_inventory WHERE user_id = ${p.id} AND item_key = 'velo-de-diana'`;
    expect(inv!.quantity).toBe(1);
    expect(await ledgerMismatches(db, [p.id])).toEqual([]);
  });
});
