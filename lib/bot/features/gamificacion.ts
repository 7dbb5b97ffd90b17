import { Composer, Markup } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { InsufficientFunds } from '../../besitos/errors.js';
import { findAction, runCommand } from '../../commands/index.js';
import { achievementsView, catalogueOf, missionsView, type CatalogueIndex } from '../../gamification/index.js';
import { ITEM_CATEGORIES, type ItemCategory } from '../../gamification/catalogue.js';
import { forSale, stockLeft } from '../../gamification/rules-shop.js';
import { buyCommand, inventoryOf, ShopRefused, soldCounts, useCommand, type BuyResult, type UseResult } from '../../gamification/shop.js';
import { sessionField, sessionKey } from '../../users/session.js';
import type { BotContext } from '../context.js';
import { cb, deadlinePart, doneKeyboard, keyboardSlot, latePress, openKeyboard, parseDeadline, whyInactive } from '../keyboard.js';
import { gm } from '../messages-gamification.js';

/**
 * /misiones, /logros, /tienda and /mochila. Buying and using are commands (lib/gamification/shop.ts),
 * keyed by the press: a double tap or a redelivered update does it once.
 */
export const gamificacionFeature = new Composer<BotContext>();

const shopFlow = sessionField('shop', lazy(() => z.object({ nonce: z.number().int(), itemKey: z.string(), price: z.number().int() })), 120);
const SHOP_SLOT = keyboardSlot('shop', 600);
const buyKey = (userId: number, nonce: number) => `shop:${userId}:${nonce}`;

/**
 * The catalogue of the active content version (the one the update's state load read, so an unchanged
 * version costs no round trip). A button drawn under an older version is checked against this one.
 */
export async function catalogueFor(ctx: Pick<BotContext, 'deps'> & { state: { userState?: { contentVersion: number | null } } }): Promise<CatalogueIndex> {
  const v = ctx.state.userState?.contentVersion;
  return ctx.deps.catalogue ? ctx.deps.catalogue(v) : catalogueOf(await ctx.deps.story.current(v));
}

gamificacionFeature.command(['misiones', 'missions'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const now = ctx.deps.clock();
  await ctx.reply(gm.missions(await missionsView(ctx.deps.db, me.id, now, ctx.deps.settings.timeZone, await catalogueFor(ctx)), now), { parse_mode: 'HTML' });
});

gamificacionFeature.command(['logros', 'achievements'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  await ctx.reply(gm.achievements(await achievementsView(ctx.deps.db, me.id, await catalogueFor(ctx)), ctx.deps.settings.timeZone), { parse_mode: 'HTML' });
});

const categoryButtons = () => ITEM_CATEGORIES.map((c) => [Markup.button.callback(gmCategory(c), cb('tc', c))]);
const gmCategory = (c: ItemCategory) => ({ cosmetic: '🎀 Cosméticos', narrative: '🗝️ Llaves y pistas', powerup: '⚡ Potenciadores' })[c];

gamificacionFeature.command(['tienda', 'shop'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  await ctx.reply(gm.shopHome(me.besitos), { parse_mode: 'HTML', reply_markup: { inline_keyboard: categoryButtons() } });
});

gamificacionFeature.action(/^tc:([a-z]{1,12})?$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  const category = ctx.match[1] as ItemCategory | undefined;
  await ctx.answerCbQuery();
  if (!category || !ITEM_CATEGORIES.includes(category)) {
    return void (await ctx.editMessageText(gm.shopHome(me.besitos), { parse_mode: 'HTML', reply_markup: { inline_keyboard: categoryButtons() } }));
  }
  const sold = await soldCounts(ctx.deps.db);
  const items = (await catalogueFor(ctx))
    .catalogue.items.filter((i) => i.category === category && forSale(i))
    .map((item) => ({ item, left: stockLeft(item, sold.get(item.key) ?? 0) }));
  const buttons = items
    .filter(({ left }) => left !== 0)
    .map(({ item }) => [Markup.button.callback(gm.buyButton(item), cb('tb', item.price, item.key))]);
  await ctx.editMessageText(gm.shopCategory(category, items, me.besitos), {
    parse_mode: 'HTML',
    reply_markup: { inline_keyboard: [...buttons, [Markup.button.callback(gm.back, 'tc:')]] },
  });
});

// A buy button carries the price it showed: if the content changed since, the purchase is refused.
gamificacionFeature.action(/^tb:(\d{1,6}):([a-z0-9_-]{1,48})$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return ctx.answerCbQuery();
  const price = Number(ctx.match[1]);
  const item = (await catalogueFor(ctx)).items.get(ctx.match[2]!);
  await ctx.answerCbQuery();
  if (item?.auction_only) return void (await ctx.reply(gm.refused('auction_only', item, me.besitos), { parse_mode: 'HTML' }));
  if (!item || item.hidden || item.price !== price) return void (await ctx.reply(gm.refused(item ? 'stale_version' : 'unknown_item', item, me.besitos), { parse_mode: 'HTML' }));
  if (me.besitos < item.price) return void (await ctx.reply(gm.refused('insufficient_funds', item, me.besitos), { parse_mode: 'HTML' }));
  const nonce = ctx.update.update_id;
  await ctx.sessions.set(sessionKey(me, ctx.chat.id), shopFlow, { nonce, itemKey: item.key, price });
  const until = deadlinePart(new Date(ctx.deps.clock().getTime() + shopFlow.ttlSeconds * 1000));
  await openKeyboard(ctx, SHOP_SLOT, nonce, gm.buyConfirm(item, me.besitos), [
    [Markup.button.callback(gm.yes, cb('ty', nonce, until)), Markup.button.callback(gm.no, cb('tn', nonce, until))],
  ]);
});

gamificacionFeature.action(/^t([yn]):(\d{1,15}):([0-9a-z]{1,8})$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me || !ctx.chat) return ctx.answerCbQuery();
  const confirm = ctx.match[1] === 'y';
  const nonce = Number(ctx.match[2]);
  const skey = sessionKey(me, ctx.chat.id);
  const pending = await ctx.sessions.get(skey, shopFlow);
  const key = buyKey(me.id, nonce);
  const cat = await catalogueFor(ctx);
  if (!pending || pending.nonce !== nonce) {
    // A second press after the purchase went through (or its redelivery): show the same outcome.
    const done = await findAction(ctx.deps.db, key);
    if (done?.status === 'done' && done.result) {
      const r = done.result as BuyResult;
      const item = cat.items.get(r.itemKey);
      await ctx.answerCbQuery();
      if (item) await ctx.editMessageText(gm.bought(item, r.balance), { parse_mode: 'HTML' }).catch(() => null);
      return;
    }
    const deadline = parseDeadline(ctx.match[3]);
    return latePress(ctx, await whyInactive(ctx, SHOP_SLOT, nonce, deadline), { deadline });
  }
  const item = cat.items.get(pending.itemKey);
  if (!confirm) {
    await ctx.sessions.clear(skey, shopFlow).catch(() => null);
    await ctx.answerCbQuery();
    await ctx.editMessageText(gm.cancelled, { parse_mode: 'HTML' });
    return void (await doneKeyboard(ctx, SHOP_SLOT, nonce, 'cancelled'));
  }
  let text: string;
  try {
    const run = await runCommand(ctx.deps.db, buyCommand(cat), {
      userId: me.id,
      idempotencyKey: key,
      params: { itemKey: pending.itemKey, price: pending.price },
      now: ctx.deps.clock(),
      isUserError: (err) => err instanceof ShopRefused || err instanceof InsufficientFunds,
    });
    const r = run.result as BuyResult;
    text = gm.bought(cat.items.get(r.itemKey)!, r.balance);
  } catch (err) {
    if (err instanceof ShopRefused) text = gm.refused(err.reason, item, me.besitos);
    else if (err instanceof InsufficientFunds) text = gm.refused('insufficient_funds', item, err.available ?? 0);
    else throw err;
  }
  await ctx.sessions.clear(skey, shopFlow).catch(() => null);
  await ctx.answerCbQuery();
  await ctx.editMessageText(text, { parse_mode: 'HTML' });
  await doneKeyboard(ctx, SHOP_SLOT, nonce);
});

async function backpack(ctx: Parameters<typeof catalogueFor>[0], userId: number, nonce: number) {
  const cat = await catalogueFor(ctx);
  const entries = (await inventoryOf(ctx.deps.db, userId)).map((e) => ({ item: cat.items.get(e.itemKey), key: e.itemKey, quantity: e.quantity }));
  const buttons = entries
    .filter((e) => e.item?.consumable)
    .map((e) => [Markup.button.callback(gm.useButton(e.item!), cb('mu', nonce, e.key))]);
  return { text: gm.backpack(entries), buttons };
}

gamificacionFeature.command(['mochila', 'inventory'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const { text, buttons } = await backpack(ctx, me.id, ctx.update.update_id);
  await ctx.reply(text, { parse_mode: 'HTML', reply_markup: { inline_keyboard: buttons } });
});

// A use button is keyed by the backpack message it belongs to: a double tap uses one unit.
gamificacionFeature.action(/^mu:(\d{1,15}):([a-z0-9_-]{1,48})$/, async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return ctx.answerCbQuery();
  const nonce = Number(ctx.match[1]);
  const itemKey = ctx.match[2]!;
  const cat = await catalogueFor(ctx);
  const item = cat.items.get(itemKey);
  const now = ctx.deps.clock();
  let text: string;
  try {
    const run = await runCommand(ctx.deps.db, useCommand(cat), {
      userId: me.id,
      idempotencyKey: `use:${me.id}:${nonce}:${itemKey}`,
      params: { itemKey },
      now,
      isUserError: (err) => err instanceof ShopRefused,
    });
    const r = run.result as UseResult;
    text = item ? gm.used(item, r.effect, r.until ? new Date(r.until) : null, now) : gm.useRefused('unknown_item');
  } catch (err) {
    if (!(err instanceof ShopRefused)) throw err;
    text = gm.useRefused(err.reason);
  }
  await ctx.answerCbQuery();
  // The answer goes below; the backpack message is refreshed with fresh buttons (a new nonce).
  await ctx.reply(text, { parse_mode: 'HTML' });
  const fresh = await backpack(ctx, me.id, ctx.update.update_id);
  await ctx.editMessageText(fresh.text, { parse_mode: 'HTML', reply_markup: { inline_keyboard: fresh.buttons } }).catch(() => null);
});
