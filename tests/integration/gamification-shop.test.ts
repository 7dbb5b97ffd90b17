import { describe, expect, it } from 'vitest';
import { InsufficientFunds } from '../../lib/besitos/errors.js';
import { getBalance } from '../../lib/besitos/ledger.js';
import { runCommand } from '../../lib/commands/index.js';
import { parseCatalogue } from '../../lib/gamification/content.js';
import { buyCommand, inventoryOf, ShopRefused, triviaMultiplier, useCommand } from '../../lib/gamification/shop.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(24);
const run = Math.random().toString(36).slice(2, 8);
// Stock is global per item key: this file's keys are unique per run.
const k = (s: string) => `${s}-${run}`;
const cat = parseCatalogue({
  items: [
    { key: k('last'), name: 'Última', description: 'D', category: 'cosmetic', rarity: 'legendary', price: 900, stock: 1 },
    { key: k('frame'), name: 'Marco', description: 'D', category: 'cosmetic', rarity: 'common', price: 80, stock: 5, per_user_limit: 1 },
    { key: k('amulet'), name: 'Amuleto', description: 'D', category: 'powerup', rarity: 'epic', price: 150, consumable: true, effect: { kind: 'trivia_multiplier', multiplier: 2, minutes: 60 } },
    { key: k('key'), name: 'Llave', description: 'D', category: 'narrative', rarity: 'rare', price: 120, consumable: true, effect: { kind: 'unlock_fragment', fragment: 'jardin' } },
  ],
});
const buy = buyCommand(cat);
const use = useCommand(cat);
const now = new Date('2026-03-10T12:00:00Z');

function purchase(userId: number, item: string, press: string, price = cat.items.get(item)!.price) {
  return runCommand(db, buy, { userId, idempotencyKey: `buy:${userId}:${press}`, params: { itemKey: item, price }, now, isUserError: (e) => e instanceof ShopRefused || e instanceof InsufficientFunds });
}
function consume(userId: number, item: string, press: string, at = now) {
  return runCommand(db, use, { userId, idempotencyKey: `use:${userId}:${press}`, params: { itemKey: item }, now: at, isUserError: (e) => e instanceof ShopRefused });
}
const reason = (p: Promise<unknown>) => p.then(() => 'ok', (e) => (e instanceof ShopRefused ? e.reason : e instanceof InsufficientFunds ? 'insufficient_funds' : `unexpected: ${e}`));
async function events(userIds: number[], type: string) {
  return db`SELECT user_id, event->'data' AS data FROM outbox WHERE type = ${type} AND user_id IN ${db(userIds)}`;
}

describe('shop: buying', () => {
  it('20 concurrent buyers of the last unit: one sale, 19 refusals, totals conserved', async () => {
    const users = await Promise.all(Array.from({ length: 20 }, () => userWithBesitos(db, 1000)));
    const outcomes = await Promise.all(users.map((u) => reason(purchase(u, k('last'), 'p'))));
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'sold_out')).toHaveLength(19);
    const [sales] = await db`SELECT sold FROM item_sales WHERE item_key = ${k('last')}`;
    expect(sales!.sold).toBe(1);
    const balances = await Promise.all(users.map((u) => getBalance(db, u)));
    expect(balances.reduce((s, b) => s + b.besitos, 0)).toBe(20 * 1000 - 900);
    const [owned] = await db`SELECT count(*)::int AS n, sum(quantity)::int AS q FROM user_inventory WHERE item_key = ${k('last')}`;
    expect(owned).toEqual({ n: 1, q: 1 });
    expect(await events(users, 'gamification.item_purchased')).toHaveLength(1);
    expect(await ledgerMismatches(db, users)).toEqual([]);
  });

  it('insufficient funds changes nothing (stock, backpack, balance, events)', async () => {
    const user = await userWithBesitos(db, 50);
    expect(await reason(purchase(user, k('frame'), 'p'))).toBe('insufficient_funds');
    expect((await getBalance(db, user)).besitos).toBe(50);
    expect(await inventoryOf(db, user)).toEqual([]);
    expect(await db`SELECT sold FROM item_sales WHERE item_key = ${k('frame')} AND sold > 0`).toHaveLength(0);
    expect(await events([user], 'gamification.item_purchased')).toHaveLength(0);
    // The refusal is in /actividad as a failed action, without its key (the user may try again later).
    const [action] = await db`SELECT status, error, idempotency_key FROM actions WHERE user_id = ${user} AND name = 'shop.buy'`;
    expect(action).toMatchObject({ status: 'failed', idempotency_key: null });
  });

  it('a double tap buys once; a second press hits the per-user limit; old prices and forged keys are refused', async () => {
    const user = await userWithBesitos(db, 1000);
    const [a, b] = await Promise.all([purchase(user, k('frame'), 'tap'), purchase(user, k('frame'), 'tap')]);
    expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
    expect(a.result).toEqual(b.result);
    expect((await getBalance(db, user)).besitos).toBe(920);
    expect(await reason(purchase(user, k('frame'), 'again'))).toBe('limit_reached');
    expect(await reason(purchase(user, k('amulet'), 'old', 100))).toBe('stale_version');
    expect(await reason(purchase(user, 'no-such-item', 'forged', 1))).toBe('unknown_item');
    expect((await getBalance(db, user)).besitos).toBe(920);
    expect(await inventoryOf(db, user)).toEqual([{ itemKey: k('frame'), quantity: 1 }]);
    expect(await ledgerMismatches(db, [user])).toEqual([]);
  });
});

describe('backpack: using', () => {
  it('a power-up doubles trivia rewards for an hour; used twice at once with one unit → used once', async () => {
    const user = await userWithBesitos(db, 1000);
    await purchase(user, k('amulet'), 'p');
    const outcomes = await Promise.all([reason(consume(user, k('amulet'), 'a')), reason(consume(user, k('amulet'), 'b'))]);
    expect(outcomes.sort()).toEqual(['not_owned', 'ok']);
    expect(await triviaMultiplier(db, user, new Date(now.getTime() + 59 * 60_000))).toBe(2);
    expect(await triviaMultiplier(db, user, new Date(now.getTime() + 60 * 60_000))).toBe(1);
    expect(await events([user], 'gamification.item_used')).toHaveLength(1);
    expect(await inventoryOf(db, user)).toEqual([]);
    // A second amulet while the first runs extends it.
    await purchase(user, k('amulet'), 'p2');
    await consume(user, k('amulet'), 'c', new Date(now.getTime() + 30 * 60_000));
    expect(await triviaMultiplier(db, user, new Date(now.getTime() + 119 * 60_000))).toBe(2);
  });

  it('a narrative key is spent and announced; things not owned or not consumable are refused', async () => {
    const user = await userWithBesitos(db, 1000);
    expect(await reason(consume(user, k('key'), 'x'))).toBe('not_owned');
    await purchase(user, k('key'), 'p');
    const r = await consume(user, k('key'), 'y');
    expect(r.result).toMatchObject({ effect: { kind: 'unlock_fragment', fragment: 'jardin' }, left: 0 });
    expect((await events([user], 'gamification.item_used'))[0]!.data).toEqual({ item_key: k('key'), quantity: 1 });
    await purchase(user, k('frame'), 'f');
    expect(await reason(consume(user, k('frame'), 'z'))).toBe('not_consumable');
    expect(await inventoryOf(db, user)).toEqual([{ itemKey: k('frame'), quantity: 1 }]);
  });
});
