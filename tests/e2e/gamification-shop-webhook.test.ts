import { describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { uniqueTelegramId } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { buttonsOf, lastTo } from '../support/users.js';

/**
 * /tienda through the webhook under concurrency, with the real catalogue (the active content version):
 * the Corona de Diana has a stock of 10 and nine are sold; 20 people confirm the last one at once.
 */
const t = await startTestApp({}, { gamificationCatalogue: undefined });
const PRICE = 900;
const START = 1_000;

async function settle() {
  for (let i = 0; i < 3; i++) {
    await t.app.bus.idle();
    await t.app.bus.sweep();
  }
}

/** A user with START besitos standing at the crown's confirmation; returns the "Sí" button. */
async function atConfirmation(tg: number): Promise<{ userId: number; yes: string }> {
  await t.post(textUpdate(tg, '/start'));
  const [user] = await t.app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  await grantBesitos(t.app.db, { userId: user!.id, amount: START, source: 'admin', idempotencyKey: `crown:${user!.id}` });
  await t.post(textUpdate(tg, '/tienda'));
  await t.post(callbackUpdate(tg, 'tc:cosmetic'));
  const listing = lastTo(t.telegram, 'editMessageText', tg, /Cosméticos/);
  const buy = buttonsOf(listing).find((d) => d === `tb:${PRICE}:corona-diana`);
  expect(buy, 'the crown is on sale').toBeTruthy();
  await t.post(callbackUpdate(tg, buy!));
  const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', tg, /^¿Compras/)).find((d) => d.startsWith('ty:'))!;
  return { userId: user!.id, yes };
}

describe('/tienda through the webhook: the last unit', () => {
  it('20 concurrent buyers of the last unit: one sale, 19 Spanish refusals, totals conserved', async () => {
    const buyers = await Promise.all(Array.from({ length: 20 }, async () => {
      const tg = uniqueTelegramId();
      return { tg, ...(await atConfirmation(tg)) };
    }));
    // Nine crowns already sold (to people not in this test).
    await t.app.db`INSERT INTO item_sales (item_key, sold) VALUES ('corona-diana', 9) ON CONFLICT (item_key) DO UPDATE SET sold = 9`;

    const responses = await Promise.all(buyers.map((b) => t.post(callbackUpdate(b.tg, b.yes))));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    await settle();

    const outcome = buyers.map((b) => {
      const text = String(lastTo(t.telegram, 'editMessageText', b.tg)?.payload.text ?? '');
      return /Compraste <b>Corona de Diana<\/b>/.test(text) ? 'sold' : /se agotó\. No se te cobró nada/.test(text) ? 'refused' : text;
    });
    expect(outcome.filter((o) => o === 'sold')).toHaveLength(1);
    expect(outcome.filter((o) => o === 'refused')).toHaveLength(19);

    const ids = buyers.map((b) => b.userId);
    const [sales] = await t.app.db`SELECT sold FROM item_sales WHERE item_key = 'corona-diana'`;
    expect(sales!.sold).toBe(10);
    const [owned] = await t.app.db`SELECT COALESCE(sum(quantity), 0)::int AS n FROM user_inventory WHERE item_key = 'corona-diana' AND user_id = ANY(${ids})`;
    expect(owned!.n).toBe(1);
    const [moves] = await t.app.db`SELECT count(*)::int AS n FROM item_moves WHERE kind = 'purchase' AND user_id = ANY(${ids})`;
    expect(moves!.n).toBe(1);
    const [spent] = await t.app.db`SELECT count(*)::int AS n, COALESCE(-sum(amount), 0)::int AS total FROM transactions WHERE source = 'shop' AND user_id = ANY(${ids})`;
    expect(spent).toMatchObject({ n: 1, total: PRICE });
    const [events] = await t.app.db`SELECT count(*)::int AS n FROM outbox WHERE type = 'gamification.item_purchased' AND user_id = ANY(${ids})`;
    expect(events!.n).toBe(1);
    // Totals: what everyone holds = what they were given − the one price + the rewards the sale earned.
    const [rewards] = await t.app.db`SELECT COALESCE(sum(amount), 0)::int AS n FROM transactions WHERE source IN ('mission', 'achievement') AND user_id = ANY(${ids})`;
    const [held] = await t.app.db`SELECT sum(besitos)::int AS n FROM user_balances WHERE user_id = ANY(${ids})`;
    expect(held!.n).toBe(20 * START - PRICE + rewards!.n);
    expect(await ledgerMismatches(t.app.db, ids)).toEqual([]);
  });

  it('a forged or foreign buy / confirm / use button changes nothing and is answered', async () => {
    await t.app.db`UPDATE item_sales SET sold = 0 WHERE item_key = 'corona-diana'`;
    const owner = await atConfirmation(uniqueTelegramId());
    const intruder = uniqueTelegramId();
    await t.post(textUpdate(intruder, '/start'));
    const [me] = await t.app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${intruder}`;
    await grantBesitos(t.app.db, { userId: me!.id, amount: START, source: 'admin', idempotencyKey: `intruder:${me!.id}` });
    // Someone else's confirmation button, a confirm that was never opened, a hidden item, a made-up item, a use of nothing.
    for (const data of [owner.yes, 'ty:99999:zzzz', 'tb:1:llave_dorada', 'tb:10:no-existe', `mu:1:amuleto-trivia`]) {
      const r = await t.post(callbackUpdate(intruder, data));
      expect(r.status).toBe(200);
    }
    expect(lastTo(t.telegram, 'sendMessage', intruder, /ya no está a la venta/)).toBeTruthy();
    expect(lastTo(t.telegram, 'sendMessage', intruder, /Ya no te queda ese objeto/)).toBeTruthy();
    const [moves] = await t.app.db`SELECT count(*)::int AS n FROM item_moves WHERE user_id = ${me!.id}`;
    expect(moves!.n).toBe(0);
    const [bal] = await t.app.db`SELECT besitos FROM user_balances WHERE user_id = ${me!.id}`;
    expect(bal!.besitos).toBe(START);
    // The owner's own confirmation still works afterwards (the intruder's press did not consume it).
    const [ownerTg] = await t.app.db<{ telegram_id: number }[]>`SELECT telegram_id FROM users WHERE id = ${owner.userId}`;
    await t.post(callbackUpdate(Number(ownerTg!.telegram_id), owner.yes));
    expect(lastTo(t.telegram, 'editMessageText', Number(ownerTg!.telegram_id), /Compraste <b>Corona de Diana/)).toBeTruthy();
  });
});
