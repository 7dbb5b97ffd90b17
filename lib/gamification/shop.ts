import { z } from 'zod';
import { lazy } from '../lazy.js';
import { spendBesitos } from '../besitos/ledger.js';
import { newEvent, publish } from '../bus/outbox.js';
import { registerCommand } from '../commands/index.js';
import type { Queryable } from '../db/client.js';
import type { CatalogueIndex, ItemEffect } from './catalogue.js';
import { decideUse, type PurchaseRefusal, type UseRefusal } from './rules-shop.js';

/** A purchase or use refused for a reason the user can act on (told in Spanish at the bot edge). */
export class ShopRefused extends Error {
  constructor(readonly reason: PurchaseRefusal | UseRefusal | 'stale_version') {
    super(`shop: ${reason}`);
    this.name = 'ShopRefused';
  }
}

export const buyParams = lazy(() => z.object({ itemKey: z.string().min(1).max(48), quantity: z.number().int().min(1).max(10).default(1), price: z.number().int().positive() }));
export type BuyParams = z.input<typeof buyParams>;
export interface BuyResult {
  itemKey: string;
  quantity: number;
  price: number;
  transactionId: number;
  balance: number;
  owned: number;
}

/**
 * Buying: stock, per-user limit, the spend, the backpack and gamification.item_purchased in the
 * command's one transaction, keyed by the press (a double tap replays the first result). The price
 * shown on the button is part of the params: if the catalogue changed meanwhile (another content
 * version), the purchase is refused rather than charging a price the user did not see.
 * Lock order: item_sales (stock) → user_balances (spend) → user_inventory, as the subscriber's rewards
 * (balances → inventory), so the two never wait on each other in a cycle.
 */
export function buyCommand(catalogue: CatalogueIndex) {
  return registerCommand<BuyParams, BuyResult>({
    name: 'shop.buy',
    params: buyParams as z.ZodType<BuyParams>,
    async execute({ tx, userId, idempotencyKey, now }, p) {
      const quantity = p.quantity ?? 1;
      const item = catalogue.items.get(p.itemKey);
      if (!item) throw new ShopRefused('unknown_item');
      if (item.auction_only) throw new ShopRefused('auction_only');
      if (item.hidden) throw new ShopRefused('not_for_sale');
      if (item.price !== p.price) throw new ShopRefused('stale_version');
      if (item.stock !== undefined) {
        await tx`INSERT INTO item_sales (item_key) VALUES (${item.key}) ON CONFLICT DO NOTHING`;
        const [sold] = await tx`
          UPDATE item_sales SET sold = sold + ${quantity} WHERE item_key = ${item.key} AND sold + ${quantity} <= ${item.stock} RETURNING sold`;
        if (!sold) throw new ShopRefused('sold_out');
      }
      const total = item.price * quantity;
      const spent = await spendBesitos(tx, { userId, amount: total, source: 'shop', idempotencyKey: `shop:${idempotencyKey}`, description: item.name, metadata: { item_key: item.key, quantity } });
      await tx`INSERT INTO user_inventory (user_id, item_key, acquired_at, updated_at) VALUES (${userId}, ${item.key}, ${now}, ${now}) ON CONFLICT DO NOTHING`;
      const [inv] = await tx<{ quantity: number }[]>`
        UPDATE user_inventory SET quantity = quantity + ${quantity}, bought = bought + ${quantity}, updated_at = ${now}
         WHERE user_id = ${userId} AND item_key = ${item.key} AND (${item.per_user_limit ?? null}::int IS NULL OR bought + ${quantity} <= ${item.per_user_limit ?? null})
        RETURNING quantity`;
      if (!inv) throw new ShopRefused('limit_reached');
      await tx`
        INSERT INTO item_moves (user_id, item_key, kind, quantity, price, idempotency_key, created_at)
        VALUES (${userId}, ${item.key}, 'purchase', ${quantity}, ${total}, ${`buy:${idempotencyKey}`}, ${now})`;
      const event = newEvent('gamification.item_purchased', { item_key: item.key, quantity, price: total, transaction_id: spent.entry.id }, userId, now);
      await publish(tx, event);
      return { itemKey: item.key, quantity, price: total, transactionId: spent.entry.id, balance: spent.entry.balanceAfter, owned: inv.quantity };
    },
  });
}

export const useParams = lazy(() => z.object({ itemKey: z.string().min(1).max(48) }));
export type UseParams = z.infer<typeof useParams>;
export interface UseResult {
  itemKey: string;
  effect: ItemEffect;
  /** End of a power-up (ISO). */
  until: string | null;
  left: number;
}

/**
 * Using one unit of a consumable: the unit is taken with a guarded UPDATE (two presses at once on the
 * last unit: one use), its effect applied (a power-up's end extended; a key or a clue told by the
 * result) and gamification.item_used written, in one transaction. The narrative module reacts to the
 * event for keys that open fragments.
 */
export function useCommand(catalogue: CatalogueIndex) {
  return registerCommand<UseParams, UseResult>({
    name: 'shop.use',
    params: useParams,
    async execute({ tx, userId, idempotencyKey, now }, p) {
      const item = catalogue.items.get(p.itemKey);
      const [left] = await tx<{ quantity: number }[]>`
        UPDATE user_inventory SET quantity = quantity - 1, updated_at = ${now}
         WHERE user_id = ${userId} AND item_key = ${p.itemKey} AND quantity >= 1 RETURNING quantity`;
      const [effect] = item?.effect?.kind === 'trivia_multiplier'
        ? await tx<{ until: Date }[]>`SELECT until FROM user_effects WHERE user_id = ${userId} AND kind = 'trivia_multiplier' FOR UPDATE`
        : [];
      const decision = decideUse(item, left ? 1 : 0, now, effect?.until ?? null);
      if (!decision.ok) throw new ShopRefused(decision.reason);
      if (decision.effect.kind === 'trivia_multiplier' && decision.until) {
        await tx`
          INSERT INTO user_effects (user_id, kind, multiplier, until) VALUES (${userId}, 'trivia_multiplier', ${decision.effect.multiplier}, ${decision.until})
          ON CONFLICT (user_id, kind) DO UPDATE SET multiplier = excluded.multiplier, until = excluded.until`;
      }
      await tx`
        INSERT INTO item_moves (user_id, item_key, kind, quantity, idempotency_key, detail, created_at)
        VALUES (${userId}, ${p.itemKey}, 'use', 1, ${`use:${idempotencyKey}`}, ${tx.json(decision.effect as never)}, ${now})`;
      const event = newEvent('gamification.item_used', { item_key: p.itemKey, quantity: 1 }, userId, now);
      await publish(tx, event);
      return { itemKey: p.itemKey, effect: decision.effect, until: decision.until?.toISOString() ?? null, left: left!.quantity };
    },
  });
}

/** The trivia reward multiplier in force for a user now (1 without a power-up). */
export async function triviaMultiplier(db: Queryable, userId: number, now: Date): Promise<number> {
  const [row] = await db<{ multiplier: number }[]>`
    SELECT multiplier FROM user_effects WHERE user_id = ${userId} AND kind = 'trivia_multiplier' AND until > ${now}`;
  return row ? Number(row.multiplier) : 1;
}

export interface InventoryEntry {
  itemKey: string;
  quantity: number;
}

export async function inventoryOf(db: Queryable, userId: number): Promise<InventoryEntry[]> {
  const rows = await db<{ item_key: string; quantity: number }[]>`
    SELECT item_key, quantity FROM user_inventory WHERE user_id = ${userId} AND quantity > 0 ORDER BY item_key`;
  return rows.map((r) => ({ itemKey: r.item_key, quantity: Number(r.quantity) }));
}

/** Units sold per stocked item (for "quedan N"). */
export async function soldCounts(db: Queryable): Promise<Map<string, number>> {
  const rows = await db<{ item_key: string; sold: number }[]>`SELECT item_key, sold FROM item_sales`;
  return new Map(rows.map((r) => [r.item_key, Number(r.sold)]));
}
