import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { getBalance, grantBesitos, spendBesitos } from '../../lib/besitos/ledger.js';
import { InsufficientFunds } from '../../lib/besitos/errors.js';
import { holdMismatches } from '../../lib/besitos/holds.js';
import { withTransaction } from '../../lib/db/transaction.js';
import { endAuction, findAuction } from '../../lib/gamification/auctions/index.js';
import { parseCatalogue } from '../../lib/gamification/content.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';

const ADMIN = uniqueTelegramId();
const catalogue = parseCatalogue({
  items: [
    { key: 'velo-de-diana', name: 'Velo de Diana', description: 'Exclusivo de subasta.', category: 'cosmetic', rarity: 'legendary', price: 1, hidden: true },
    { key: 'marco-dorado', name: 'Marco dorado', description: 'Un marco.', category: 'cosmetic', rarity: 'common', price: 80 },
  ],
});
let now = Date.now();
const env = { ADMIN_USER_IDS: String(ADMIN), RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000' };
const t = await startTestApp(env, { clock: () => new Date(now), gamificationCatalogue: () => catalogue });
const db = t.app.db;

interface Person {
  tg: number;
  id: number;
}

async function person(besitos = 0): Promise<Person> {
  const tg = uniqueTelegramId();
  await t.post(textUpdate(tg, '/start'));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { tg, id: Number(row!.id) };
}

const say = (p: Pick<Person, 'tg'>, text: string) => t.post(textUpdate(p.tg, text));
const lastText = (p: Pick<Person, 'tg'>, method = 'sendMessage') => String(lastTo(t.telegram, method, p.tg)?.payload.text ?? '');
const passLease = () => void (now += 10 * 60_000);
const drain = async () => {
  await t.app.bus.idle();
  await drainJobs(t.app, passLease);
  await t.app.bus.idle();
};

async function createAuction(args: string): Promise<number> {
  await say({ tg: ADMIN }, `/subasta_nueva ${args}`);
  const m = /Subasta #(\d+) creada/.exec(lastText({ tg: ADMIN }));
  expect(m, lastText({ tg: ADMIN })).toBeTruthy();
  return Number(m![1]);
}

const balance = (p: Person) => getBalance(db, p.id);

await say({ tg: ADMIN }, '/start');

describe('auctions through the webhook', () => {
  it('admin creation validates its input in Spanish; users cannot create', async () => {
    const user = await person();
    await say(user, '/subasta_nueva velo-de-diana 100 10 1h');
    expect(lastText(user)).toMatch(/solo para administradores/);
    const cases: [string, RegExp][] = [
      ['', /Crear una subasta/],
      ['capa-invisible 100 10 1h', /No existe el objeto «capa-invisible»/],
      ['velo-de-diana cien 10 1h', /puja mínima debe ser un número entero/],
      ['velo-de-diana 100 -5 1h', /incremento debe ser un número entero/],
      ['velo-de-diana 100 10 pronto', /No entiendo la duración «pronto»/],
      ['velo-de-diana 100 10 2m', /al menos 5 minutos/],
      ['velo-de-diana 100 10 40d', /como máximo 30 días/],
      ['velo-de-diana 100 10 1h 25:99', /No entiendo el inicio/],
      ['velo-de-diana 100 10 1h 2020-01-01 10:00', /El inicio ya pasó/],
    ];
    for (const [args, re] of cases) {
      await say({ tg: ADMIN }, `/subasta_nueva ${args}`.trim());
      expect(lastText({ tg: ADMIN }), args).toMatch(re);
    }
    const [n] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM auctions WHERE created_by = (SELECT id FROM users WHERE telegram_id = ${ADMIN})`;
    expect(n!.n).toBe(0);
  });

  it('bad bids get clear answers and move nothing; an old or someone else’s button is refused', async () => {
    const id = await createAuction('velo-de-diana 100 10 1h');
    const ana = await person(300);
    const beto = await person(500);
    await say(ana, '/subastas');
    const list = lastTo(t.telegram, 'sendMessage', ana.tg, /Subastas abiertas/);
    expect(list!.payload.text).toMatch(/Velo de Diana/);
    const buttons = buttonsOf(list);
    expect(buttons).toContain(`sb:${id}:100:${ana.id}`);

    await say(ana, `/pujar #${id} abc`);
    expect(lastText(ana)).toMatch(/«abc» no es una cantidad/);
    await say(ana, `/pujar #${id} 50`);
    expect(lastText(ana)).toMatch(/muy baja: la mínima ahora es 100 besitos/);
    await say(ana, `/pujar #${id} 301`);
    expect(lastText(ana)).toMatch(/No te alcanza para pujar 301 besitos: puedes usar 300 besitos/);
    await say(ana, `/pujar #999999 150`);
    expect(lastText(ana)).toMatch(/No encuentro esa subasta/);
    // Beto presses Ana's button (a list shown in a group, or a forged press).
    await t.post(callbackUpdate(beto.tg, `sb:${id}:100:${ana.id}`));
    expect(cbAnswers(t.telegram).at(-1)!.text).toMatch(/no es tuyo/);
    expect((await balance(ana)).held + (await balance(beto)).held).toBe(0);

    await t.post(callbackUpdate(ana.tg, `sb:${id}:100:${ana.id}`));
    expect(cbAnswers(t.telegram).at(-1)!.text).toMatch(/Vas ganando con 100 besitos/);
    expect(await balance(ana)).toMatchObject({ besitos: 300, held: 100 });
    // Beto's old button for 100: refused with the new minimum, and his list is redrawn.
    await t.post(callbackUpdate(beto.tg, `sb:${id}:100:${beto.id}`));
    expect(cbAnswers(t.telegram).at(-1)!.text).toMatch(/mínima ahora es 110 besitos/);
    // Ana raises her own bid: the hold is replaced, never doubled.
    await say(ana, `/pujar #${id} 250`);
    expect(lastText(ana)).toMatch(/Vas ganando .*250 besitos.*Tu puja anterior se reemplazó/s);
    expect(await balance(ana)).toMatchObject({ besitos: 300, held: 250 });
    const [holds] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM besitos_holds WHERE user_id = ${ana.id} AND status = 'pending'`;
    expect(holds!.n).toBe(1);
    // A raise may use her own bid's besitos (300 in all), not more; elsewhere only 50 are spendable.
    await say(ana, `/pujar #${id} 310`);
    expect(lastText(ana)).toMatch(/No te alcanza para pujar 310 besitos: puedes usar 300 besitos/);
    await expect(spendBesitos(db, { userId: ana.id, amount: 51, source: 'shop', idempotencyKey: `e2e:spend:${ana.id}` })).rejects.toBeInstanceOf(InsufficientFunds);
    expect(await balance(ana)).toMatchObject({ besitos: 300, held: 250 });

    // Beto outbids: Ana's hold comes back at once and she is told.
    await say(beto, `/pujar #${id} 300`);
    expect(await balance(ana)).toMatchObject({ besitos: 300, held: 0 });
    await drain();
    expect(lastText(ana)).toMatch(/Alguien superó tu puja por <b>Velo de Diana<\/b>.*300 besitos.*Tus 250 besitos ya están libres/s);

    // Closed: past the end (before the end job ran) no bid is taken.
    const a = (await findAuction(db, id))!;
    now = a.endsAt.getTime() + 1000;
    await say(ana, `/pujar #${id} 400`);
    expect(lastText(ana)).toMatch(/ya terminó/);
    await drain();
    expect((await findAuction(db, id))!.status).toBe('ended');
    expect(await ledgerMismatches(db, [ana.id, beto.id])).toEqual([]);
    expect(await holdMismatches(db, [ana.id, beto.id])).toEqual([]);
  });

  it('a banned user cannot bid', async () => {
    const id = await createAuction('velo-de-diana 10 1 1h');
    const eve = await person(100);
    await db`UPDATE users SET status = 'banned' WHERE id = ${eve.id}`;
    await say(eve, `/pujar #${id} 10`);
    expect((await balance(eve)).held).toBe(0);
    expect((await findAuction(db, id))!.leaderId).toBeNull();
  });

  it('20 concurrent bidders: one winner, every loser’s hold returned, 10% burned as tax, totals conserved, told once each', async () => {
    const id = await createAuction('velo-de-diana 100 10 1h');
    const people = await Promise.all(Array.from({ length: 20 }, () => person(1000)));
    const ids = people.map((p) => p.id);
    t.telegram.reset();
    // Everyone bids at once, some the same amount (two presses of the same price: the first wins).
    await Promise.all(people.map((p, i) => say(p, `/pujar #${id} ${100 + 10 * Math.floor(i / 2)}`)));
    const sameAmount = people.filter((p) => /Alguien pujó esa misma cantidad justo antes/.test(lastText(p)));
    const leading = await findAuction(db, id);
    const [best] = await db<{ amount: number; user_id: number }[]>`
      SELECT amount, user_id FROM auction_bids WHERE auction_id = ${id} ORDER BY amount DESC LIMIT 1`;
    expect(leading!.leaderBid).toBe(Number(best!.amount));
    expect(leading!.leaderId).toBe(Number(best!.user_id));
    // At most one accepted bid per amount: of each pair, at most one.
    const [dups] = await db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM (SELECT amount FROM auction_bids WHERE auction_id = ${id} GROUP BY amount HAVING count(*) > 1) d`;
    expect(dups!.n).toBe(0);
    expect(sameAmount.length).toBeLessThanOrEqual(10);
    const [pending] = await db<{ n: number; sum: number }[]>`
      SELECT count(*)::int AS n, COALESCE(sum(amount), 0)::int AS sum FROM besitos_holds WHERE reference = ${`auction:${id}`} AND status = 'pending'`;
    expect(pending).toEqual({ n: 1, sum: leading!.leaderBid });

    now = leading!.endsAt.getTime() + 1000;
    await drain();
    const ended = (await findAuction(db, id))!;
    expect(ended).toMatchObject({ status: 'ended', winnerId: leading!.leaderId, price: leading!.leaderBid, tax: Math.ceil(leading!.leaderBid! / 10) });
    const winner = people.find((p) => p.id === ended.winnerId)!;
    const rows = await db<{ type: string; amount: number }[]>`
      SELECT type, amount::int FROM transactions WHERE user_id = ${winner.id} AND source IN ('auction', 'tax') ORDER BY id`;
    expect(rows).toEqual([
      { type: 'spend', amount: -(ended.price! - ended.tax!) },
      { type: 'tax', amount: -ended.tax! },
    ]);
    for (const p of people) {
      const b = await balance(p);
      expect(b.held).toBe(0);
      expect(b.besitos).toBe(p.id === winner.id ? 1000 - ended.price! : 1000);
    }
    const [totals] = await db<{ balances: number; burned: number }[]>`
      SELECT (SELECT sum(besitos)::int FROM user_balances WHERE user_id IN ${db(ids)}) AS balances,
             (SELECT -sum(amount)::int FROM transactions WHERE user_id IN ${db(ids)} AND source IN ('auction', 'tax')) AS burned`;
    expect(totals!.balances + totals!.burned).toBe(20 * 1000);
    const [inv] = await db<{ quantity: number }[]>`SELECT quantity FROM user_inventory WHERE user_id = ${winner.id} AND item_key = 'velo-de-diana'`;
    expect(inv!.quantity).toBe(1);
    const [won] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE type = 'gamification.auction_won' AND (event->'data'->>'auction_id')::int = ${id}`;
    expect(won!.n).toBe(1);
    expect(lastText(winner)).toMatch(/Ganaste la subasta de <b>Velo de Diana<\/b>/);
    const bidderIds = new Set((await db<{ user_id: number }[]>`SELECT DISTINCT user_id FROM auction_bids WHERE auction_id = ${id}`).map((r) => Number(r.user_id)));
    for (const p of people.filter((p) => bidderIds.has(p.id) && p.id !== winner.id)) {
      expect(t.telegram.callsOf('sendMessage').filter((c) => c.payload.chat_id === p.tg && /terminó: ganó otra persona/.test(String(c.payload.text))).length).toBe(1);
    }
    // Not necessarily the admin's last message: other auctions of this file may end in the same sweep.
    expect(t.telegram.sentTexts(ADMIN).some((x) => new RegExp(`Subasta #${id} .*terminada`).test(x))).toBe(true);

    // The end job again (a second runner, a redelivered trigger): nothing more happens.
    const again = await withTransaction(db, (tx) => endAuction(tx, id, new Date(now)));
    expect(again.status).toBe('already');
    expect(await ledgerMismatches(db, ids)).toEqual([]);
    expect(await holdMismatches(db, ids)).toEqual([]);
  });

  it('two end runs at once end it once; a late run still ends it with the bids before the end', async () => {
    const id = await createAuction('velo-de-diana 10 1 1h');
    const p = await person(100);
    await say(p, `/pujar #${id} 40`);
    now += 3 * 3600_000; // the end job is hours late
    const outcomes = await Promise.all([1, 2, 3].map(() => withTransaction(db, (tx) => endAuction(tx, id, new Date(now)))));
    expect(outcomes.map((o) => o.status).sort()).toEqual(['already', 'already', 'won']);
    expect(await balance(p)).toMatchObject({ besitos: 60, held: 0 });
    await drain(); // the scheduled job, also late, finds it ended
    expect(await balance(p)).toMatchObject({ besitos: 60, held: 0 });
    const [rows] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${p.id} AND source IN ('auction', 'tax')`;
    expect(rows!.n).toBe(2);
  });

  it('a bid in the last 2 minutes moves the end and its job', async () => {
    const id = await createAuction('velo-de-diana 10 1 10m');
    const p = await person(100);
    const a = (await findAuction(db, id))!;
    now = a.endsAt.getTime() - 60_000;
    await say(p, `/pujar #${id} 10`);
    expect(lastText(p)).toMatch(/pujaste en los últimos 2 minutos, la subasta se alarga/);
    const moved = (await findAuction(db, id))!;
    expect(moved.endsAt.getTime()).toBe(now + 120_000);
    const [job] = await db<{ due_at: Date; state: string }[]>`SELECT due_at, state FROM scheduled_jobs WHERE key = ${`auction.end:${id}`}`;
    expect(new Date(job!.due_at).getTime()).toBe(now + 120_000);
    now = a.endsAt.getTime() + 1000; // the old end: nothing ends yet
    await drain();
    expect((await findAuction(db, id))!.status).toBe('open');
    now = moved.endsAt.getTime() + 1000;
    await drain();
    expect((await findAuction(db, id))!).toMatchObject({ status: 'ended', winnerId: p.id });
  });

  it('/borrar of the leader mid-auction releases the hold, others are told, bidding starts again; of a bidder leaves no link', async () => {
    const id = await createAuction('velo-de-diana 20 5 1h');
    const ana = await person(200);
    const beto = await person(200);
    await say(beto, `/pujar #${id} 20`);
    await say(ana, `/pujar #${id} 50`);
    await drain();
    t.telegram.reset();
    // Ana (the leader) erases her data, on the bot's clock (ahead of the wall clock here).
    now += 5 * 60_000;
    const erasedAt = now;
    await say(ana, '/borrar');
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'));
    expect(yes).toBeDefined();
    await t.post(callbackUpdate(ana.tg, yes!));
    const [u] = await db<{ deleted: boolean }[]>`SELECT deleted_at IS NOT NULL AS deleted FROM users WHERE id = ${ana.id}`;
    expect(u!.deleted).toBe(true);
    expect(await getBalance(db, ana.id)).toMatchObject({ held: 0 });
    // The released hold is stamped with the injected clock, not the wall clock.
    const [released] = await db<{ resolved_at: Date }[]>`SELECT resolved_at FROM besitos_holds WHERE user_id = ${ana.id} AND void_reason = 'erased'`;
    expect(erasedAt - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(Math.abs(new Date(released!.resolved_at).getTime() - erasedAt)).toBeLessThan(1_000);
    const a = (await findAuction(db, id))!;
    expect(a.leaderId).toBeNull();
    const [links] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM auction_bids WHERE user_id = ${ana.id}`;
    expect(links!.n).toBe(0);
    await drain();
    expect(lastText(beto)).toMatch(/ya no participa.*sigue abierta desde 20 besitos/s);
    await say(beto, `/pujar #${id} 20`);
    expect(lastText(beto)).toMatch(/Vas ganando/);
    expect(await holdMismatches(db, [ana.id, beto.id])).toEqual([]);
  });

  it('/borrar raced against bids and against the end: no hold lost or doubled, the auction consistent', async () => {
    for (let round = 0; round < 3; round++) {
      const id = await createAuction('velo-de-diana 10 1 1h');
      const leader = await person(500);
      const others = await Promise.all([1, 2, 3, 4].map(() => person(500)));
      await say(leader, `/pujar #${id} 100`);
      await say(leader, '/borrar');
      const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', leader.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
      const a = (await findAuction(db, id))!;
      if (round === 2) now = a.endsAt.getTime() + 1000; // the last round races the end too
      await Promise.all([
        t.post(callbackUpdate(leader.tg, yes)),
        ...others.map((p, i) => say(p, `/pujar #${id} ${101 + i}`)),
        round === 2 ? withTransaction(db, (tx) => endAuction(tx, id, new Date(now))) : Promise.resolve(),
      ]);
      const ids = [leader.id, ...others.map((p) => p.id)];
      expect(await holdMismatches(db, ids)).toEqual([]);
      expect(await ledgerMismatches(db, ids)).toEqual([]);
      const after = (await findAuction(db, id))!;
      const pending = await db<{ user_id: number; amount: number; id: number }[]>`
        SELECT id, user_id, amount::int FROM besitos_holds WHERE reference = ${`auction:${id}`} AND status = 'pending'`;
      if (after.status === 'open') {
        // The leader (if any) is the only one holding, with their bid.
        expect(pending.map((h) => [Number(h.user_id), h.amount, Number(h.id)])).toEqual(after.leaderId ? [[after.leaderId, after.leaderBid, after.leaderHoldId]] : []);
        expect(after.leaderId).not.toBe(leader.id);
      } else {
        expect(pending).toEqual([]);
      }
      expect((await getBalance(db, leader.id)).held).toBe(0);
      if (round === 2) {
        await drain();
        expect((await findAuction(db, id))!.status).toBe('ended');
      }
    }
  });

  it('with Redis down, bidding still works (money never depends on Redis)', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const down = await startTestApp(env, { clock: () => new Date(now), gamificationCatalogue: () => catalogue, kv: await createRedisStore(`redis://127.0.0.1:${port}`) });
    const id = await createAuction('velo-de-diana 10 1 1h');
    const p = await person(100);
    await down.post(textUpdate(p.tg, `/pujar #${id} 15`));
    expect(String(lastTo(down.telegram, 'sendMessage', p.tg)?.payload.text)).toMatch(/Vas ganando/);
    expect(await balance(p)).toMatchObject({ held: 15 });
  });
});
