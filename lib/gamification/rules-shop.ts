import type { Item, ItemEffect } from './catalogue.js';

/** Pure shop and backpack rules. The database enforces the same limits with guarded statements. */

export type PurchaseRefusal = 'unknown_item' | 'not_for_sale' | 'auction_only' | 'sold_out' | 'limit_reached' | 'insufficient_funds';

/** Listed in /tienda and buyable there: not a reward-only (hidden) item, not one only won at auction. */
export function forSale(item: Item): boolean {
  return !item.hidden && !item.auction_only;
}

export interface PurchaseState {
  balance: number;
  /** Units this user has bought of the item so far. */
  boughtByUser: number;
  /** Units sold to everyone so far. */
  sold: number;
}

export type PurchaseDecision = { ok: true; total: number } | { ok: false; reason: PurchaseRefusal };

export function decidePurchase(item: Item | undefined, quantity: number, s: PurchaseState): PurchaseDecision {
  if (!item) return { ok: false, reason: 'unknown_item' };
  if (item.auction_only) return { ok: false, reason: 'auction_only' };
  if (item.hidden || !Number.isInteger(quantity) || quantity < 1) return { ok: false, reason: 'not_for_sale' };
  if (item.stock !== undefined && s.sold + quantity > item.stock) return { ok: false, reason: 'sold_out' };
  if (item.per_user_limit !== undefined && s.boughtByUser + quantity > item.per_user_limit) return { ok: false, reason: 'limit_reached' };
  const total = item.price * quantity;
  if (s.balance < total) return { ok: false, reason: 'insufficient_funds' };
  return { ok: true, total };
}

/** Units left for sale (null: unlimited). */
export function stockLeft(item: Item, sold: number): number | null {
  return item.stock === undefined ? null : Math.max(0, item.stock - sold);
}

export type UseRefusal = 'unknown_item' | 'not_owned' | 'not_consumable';

/** What using one unit does: an effect active until `until` (power-ups) or at once (keys, clues). */
export type UseDecision = { ok: true; effect: ItemEffect; until: Date | null } | { ok: false; reason: UseRefusal };

export function decideUse(item: Item | undefined, owned: number, now: Date, activeUntil: Date | null = null): UseDecision {
  if (!item) return { ok: false, reason: 'unknown_item' };
  if (owned < 1) return { ok: false, reason: 'not_owned' };
  if (!item.consumable || !item.effect) return { ok: false, reason: 'not_consumable' };
  if (item.effect.kind === 'trivia_multiplier') {
    // A second power-up while one is running extends it rather than overlapping.
    const from = activeUntil && activeUntil > now ? activeUntil : now;
    return { ok: true, effect: item.effect, until: new Date(from.getTime() + item.effect.minutes * 60_000) };
  }
  return { ok: true, effect: item.effect, until: null };
}

/** The trivia reward multiplier in force at `at` given the user's active power-ups (the largest wins). */
export function triviaMultiplierAt(effects: readonly { multiplier: number; until: Date }[], at: Date): number {
  return effects.reduce((m, e) => (e.until > at ? Math.max(m, e.multiplier) : m), 1);
}
