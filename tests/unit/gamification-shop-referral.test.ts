import { describe, expect, it } from 'vitest';
import { itemSchema, type Item } from '../../lib/gamification/catalogue.js';
import { decidePurchase, decideUse, stockLeft, triviaMultiplierAt } from '../../lib/gamification/rules-shop.js';
import { decideQualify, decideReferral, referralCodeFromPayload, referralLink } from '../../lib/gamification/rules-referral.js';

const item = (i: Record<string, unknown> = {}): Item =>
  itemSchema.parse({ key: 'x', name: 'X', description: 'D', category: 'cosmetic', rarity: 'common', price: 100, ...i });

describe('shop', () => {
  it('price, stock, per-user limit and funds, in that order', () => {
    expect(decidePurchase(undefined, 1, { balance: 1000, boughtByUser: 0, sold: 0 })).toEqual({ ok: false, reason: 'unknown_item' });
    expect(decidePurchase(item({ hidden: true }), 1, { balance: 1000, boughtByUser: 0, sold: 0 })).toEqual({ ok: false, reason: 'not_for_sale' });
    expect(decidePurchase(item(), 0, { balance: 1000, boughtByUser: 0, sold: 0 })).toEqual({ ok: false, reason: 'not_for_sale' });
    expect(decidePurchase(item({ stock: 3 }), 1, { balance: 0, boughtByUser: 0, sold: 3 })).toEqual({ ok: false, reason: 'sold_out' });
    expect(decidePurchase(item({ stock: 3 }), 2, { balance: 1000, boughtByUser: 0, sold: 2 })).toEqual({ ok: false, reason: 'sold_out' });
    expect(decidePurchase(item({ per_user_limit: 1 }), 1, { balance: 1000, boughtByUser: 1, sold: 1 })).toEqual({ ok: false, reason: 'limit_reached' });
    expect(decidePurchase(item(), 1, { balance: 99, boughtByUser: 0, sold: 0 })).toEqual({ ok: false, reason: 'insufficient_funds' });
    expect(decidePurchase(item({ stock: 3 }), 2, { balance: 200, boughtByUser: 0, sold: 1 })).toEqual({ ok: true, total: 200 });
    expect(stockLeft(item({ stock: 3 }), 5)).toBe(0);
    expect(stockLeft(item(), 5)).toBeNull();
  });
  it('using: owned consumables only; a power-up runs for its minutes and a second one extends it', () => {
    const now = new Date('2026-03-10T12:00:00Z');
    const amulet = item({ consumable: true, category: 'powerup', effect: { kind: 'trivia_multiplier', multiplier: 2, minutes: 60 } });
    expect(decideUse(amulet, 0, now)).toEqual({ ok: false, reason: 'not_owned' });
    expect(decideUse(item(), 1, now)).toEqual({ ok: false, reason: 'not_consumable' });
    expect(decideUse(undefined, 1, now)).toEqual({ ok: false, reason: 'unknown_item' });
    expect(decideUse(amulet, 1, now)).toMatchObject({ ok: true, until: new Date('2026-03-10T13:00:00Z') });
    expect(decideUse(amulet, 1, now, new Date('2026-03-10T12:30:00Z'))).toMatchObject({ ok: true, until: new Date('2026-03-10T13:30:00Z') });
    expect(decideUse(amulet, 1, now, new Date('2026-03-10T11:00:00Z'))).toMatchObject({ ok: true, until: new Date('2026-03-10T13:00:00Z') });
    const key = item({ consumable: true, category: 'narrative', effect: { kind: 'unlock_fragment', fragment: 'jardin' } });
    expect(decideUse(key, 2, now)).toEqual({ ok: true, effect: { kind: 'unlock_fragment', fragment: 'jardin' }, until: null });
  });
  it('the trivia multiplier is in force only until its end', () => {
    const until = new Date('2026-03-10T13:00:00Z');
    expect(triviaMultiplierAt([{ multiplier: 2, until }], new Date('2026-03-10T12:59:59Z'))).toBe(2);
    expect(triviaMultiplierAt([{ multiplier: 2, until }], until)).toBe(1);
    expect(triviaMultiplierAt([], until)).toBe(1);
  });
});

describe('referrals', () => {
  const ok = { refereeId: 2, referrerId: 1, refereeIsNew: true, refereeAlreadyReferred: false, referrerAncestors: [] };
  it('reads the code from the /start payload', () => {
    expect(referralCodeFromPayload('ref_ab12cd34')).toBe('ab12cd34');
    expect(referralCodeFromPayload('ref_AB12CD34')).toBe('ab12cd34');
    expect(referralCodeFromPayload('ref_short')).toBeNull();
    expect(referralCodeFromPayload('ref_ab12cd34; drop')).toBeNull();
    expect(referralCodeFromPayload('other')).toBeNull();
    expect(referralCodeFromPayload(undefined)).toBeNull();
    expect(referralLink('DianaBot', 'ab12cd34')).toBe('https://t.me/DianaBot?start=ref_ab12cd34');
  });
  it('refuses self, unknown codes, existing users, second referrals and rings', () => {
    expect(decideReferral(ok)).toEqual({ ok: true });
    expect(decideReferral({ ...ok, referrerId: null })).toEqual({ ok: false, reason: 'unknown_code' });
    expect(decideReferral({ ...ok, referrerId: 2 })).toEqual({ ok: false, reason: 'self' });
    expect(decideReferral({ ...ok, refereeIsNew: false })).toEqual({ ok: false, reason: 'not_new' });
    expect(decideReferral({ ...ok, refereeAlreadyReferred: true })).toEqual({ ok: false, reason: 'already_referred' });
    // A ring A→B→C→A: C's referral of A is refused (A is B's referrer's … ancestor).
    expect(decideReferral({ ...ok, refereeId: 1, referrerId: 3, referrerAncestors: [2, 1], refereeIsNew: true })).toEqual({ ok: false, reason: 'cycle' });
  });
  it('rewards once, within the referrer daily cap', () => {
    expect(decideQualify('pending', 0)).toEqual({ reward: true, rewards: { referrer: 50, referee: 25 } });
    expect(decideQualify('pending', 5, 5)).toEqual({ reward: false, reason: 'capped' });
    expect(decideQualify('rewarded', 0)).toEqual({ reward: false, reason: 'not_pending' });
  });
});

describe('conditions contributed by gamification', () => {
  it('item owned and achievement unlocked, with Spanish explanations, registered in the one registry', async () => {
    const { conditions, emptyConditionState } = await import('../../lib/conditions/index.js');
    const scope = { subject: 'fragment:x', names: { item: () => 'Llave del jardín', achievement: () => 'Primer paso' } };
    const owned = conditions.schema.parse({ kind: 'item_owned', item: 'llave-jardin' });
    expect(conditions.check(owned, emptyConditionState(), scope)).toEqual({ ok: false, missing: ['Necesitas «Llave del jardín» en tu /mochila.'] });
    expect(conditions.check(owned, emptyConditionState({ items: new Map([['llave-jardin', 1]]) }), scope)).toEqual({ ok: true });
    const ach = conditions.schema.parse({ kind: 'achievement_unlocked', achievement: 'primer-paso' });
    expect(conditions.check(ach, emptyConditionState({ achievements: new Set(['primer-paso']) }), scope)).toEqual({ ok: true });
    expect(conditions.check(ach, emptyConditionState(), scope)).toEqual({ ok: false, missing: ['Primero consigue el logro «Primer paso» (/logros).'] });
    expect(conditions.refs(owned).items).toEqual(['llave-jardin']);
    expect(() => conditions.schema.parse({ kind: 'item_owned' })).toThrow();
  });
});
