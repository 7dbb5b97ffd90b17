import { afterAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { createDb } from '../../lib/db/client.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { prefixedStore } from '../fault/kv-prefix.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { isolatedDatabase } from '../support/bus.js';
import { uniqueTelegramId } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';

/**
 * /borrar raced, through the webhook with real concurrency, against the same person's other updates
 * that were sent before it (lower update_id) but are handled at the same moment. Whatever order the
 * two end up in, afterwards no table and no key-value entry holds the Telegram id, the username, the
 * names or the /start payload (all of them embed the Telegram id, so one search finds any of them).
 */
const dbUrl = await isolatedDatabase(); // /exportar goes through this file's bus and Bot API stub only
const db = createDb(dbUrl, { max: 10 });
afterAll(() => db.end({ timeout: 5 }));
const redisUrl = inject('redisUrl');
const base = redisUrl ? await createRedisStore(redisUrl) : createMemoryStore();
const raw = redisUrl ? new Redis(redisUrl) : null;
afterAll(async () => {
  await base.close?.();
  raw?.disconnect();
});
const prefix = `races-${process.pid}-${Date.now()}:`;
const kv = prefixedStore(base, prefix);
const t = await startTestApp({ DATABASE_URL: dbUrl, RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000' }, { kv });
const msg = t.app.bot.context.t!;
const ROUNDS = 20;

interface P {
  tg: number;
  username: string;
  firstName: string;
  id: number;
}
async function person(besitos = 0): Promise<P> {
  const tg = uniqueTelegramId();
  const p = { tg, username: `usr${tg}`, firstName: `Nom${tg}` };
  await t.post(textUpdate(tg, '/start', p));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { ...p, id: row!.id };
}
/** Posts like Telegram: a 5xx is redelivered (a loaded shared Postgres may refuse a connection). */
async function deliver(update: unknown): Promise<{ status: number; body: string }> {
  for (let attempt = 1; ; attempt++) {
    const res = await t.post(update);
    if (res.status < 500 || attempt >= 5) return res;
    await new Promise((r) => setTimeout(r, 50 * attempt));
  }
}
/** The same, after `ms`: rounds spread the other update over the erasure's whole handling. */
const deliverAfter = (ms: number, update: unknown) => new Promise((r) => setTimeout(r, ms)).then(() => deliver(update));
const spread = (i: number) => (i * 37) % 41; // 0–40 ms, different in every round
const text = (p: Pick<P, 'tg' | 'username' | 'firstName'>, s: string) => textUpdate(p.tg, s, { username: p.username, firstName: p.firstName });

/** The "Sí, borrar todo" press of a fresh /borrar, not yet posted. */
async function eraseConfirmation(p: P) {
  await t.post(text(p, '/borrar'));
  const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', p.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
  return callbackUpdate(p.tg, yes);
}

/** Tables with a row whose text holds any of the needles. */
async function tablesMentioning(needles: string[]): Promise<Record<string, number>> {
  const tables = await db<{ table_name: string }[]>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`;
  const hits: Record<string, number> = {};
  for (const { table_name } of tables) {
    const [r] = await db.unsafe(
      `SELECT count(*)::int AS n FROM "${table_name}" t WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS x WHERE strpos(lower(t::text), x) > 0)`,
      [needles.map((n) => n.toLowerCase())],
    );
    if (r!.n > 0) hits[table_name] = r!.n;
  }
  return hits;
}

/** Key-value entries (key or value) of this file that hold any of the needles. */
async function keysMentioning(needles: string[]): Promise<string[]> {
  if (!raw) return [];
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of batch) {
      const value = (await raw.type(key)) === 'string' ? ((await raw.get(key)) ?? '') : '';
      if (needles.some((n) => key.includes(n) || value.includes(n))) found.push(`${key} = ${value.slice(0, 120)}`);
    }
  } while (cursor !== '0');
  return found;
}

/** Runs `round` ROUNDS times, five at a time (different people), and checks nothing of them is left. */
async function raceRounds(round: (i: number) => Promise<P>) {
  const people: P[] = [];
  for (let i = 0; i < ROUNDS; i += 5) people.push(...(await Promise.all([0, 1, 2, 3, 4].map((j) => round(i + j)))));
  await t.app.bus.idle();
  const needles = people.map((p) => String(p.tg));
  expect(await tablesMentioning(needles)).toEqual({});
  expect(await keysMentioning(needles)).toEqual([]);
  const erased = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE id IN ${db(people.map((p) => p.id))} AND deleted_at IS NOT NULL`;
  expect(erased[0]!.n).toBe(people.length);
  expect(await ledgerMismatches(db)).toEqual([]);
}

describe('/borrar wins every race with the same person\'s updates', () => {
  it(`/exportar in flight (${ROUNDS} rounds): no action keeps the chat id, nothing personal is stored`, async () => {
    await raceRounds(async (i) => {
      const p = await person();
      const exportar = text(p, '/exportar');
      const confirm = await eraseConfirmation(p);
      const res = await Promise.all([deliverAfter(spread(i), exportar), deliver(confirm)]);
      expect(res.map((r) => r.status)).toEqual([200, 200]);
      return p;
    });
  });

  it(`a message with a changed username and names (${ROUNDS} rounds): nothing is written back onto the erased row`, async () => {
    await raceRounds(async (i) => {
      const p = await person();
      const renamed = textUpdate(p.tg, 'hola', { username: `new${p.tg}`, firstName: `Otro${p.tg}` });
      const confirm = await eraseConfirmation(p);
      await Promise.all([deliverAfter(spread(i), renamed), deliver(confirm)]);
      return p;
    });
  });

  it(`/start with a payload (${ROUNDS} rounds): the payload is not kept`, async () => {
    await raceRounds(async (i) => {
      const p = await person();
      const start = text(p, `/start pl${p.tg}`);
      const confirm = await eraseConfirmation(p);
      await Promise.all([deliverAfter(spread(i), start), deliver(confirm)]);
      return p;
    });
  });

  it(`a gift confirmed at the same moment (${ROUNDS} rounds): made before and blanked, or refused; money exact`, async () => {
    const friend = await person();
    await raceRounds(async (i) => {
      const p = await person(20);
      await t.post(text(p, `/regalar 5 @${friend.username}`));
      const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', p.tg, /^¿Regalar/)).find((d) => d.startsWith('g:y:'))!;
      const press = callbackUpdate(p.tg, yes);
      const confirm = await eraseConfirmation(p);
      await Promise.all([deliverAfter(spread(i), press), deliver(confirm)]);
      return p;
    });
  });

  it(`two taps on "Sí, borrar todo" at once, and a third later (${ROUNDS} rounds): erased once, nobody registered again`, async () => {
    await raceRounds(async (i) => {
      const p = await person();
      const confirm = await eraseConfirmation(p);
      const again = { ...confirm, update_id: confirm.update_id + 1_000_000, callback_query: { ...confirm.callback_query, id: `${confirm.callback_query.id}2` } };
      await Promise.all([deliver(confirm), deliverAfter(spread(i) / 4, again)]);
      const third = { ...confirm, update_id: confirm.update_id + 2_000_000, callback_query: { ...confirm.callback_query, id: `${confirm.callback_query.id}3` } };
      expect((await deliver(third)).status).toBe(200);
      expect(cbAnswers(t.telegram).find((a) => a.id === third.callback_query.id)?.text).toBe(msg.buttonWithoutAccount());
      return p;
    });
  });
});

describe('leftovers of an erased person elsewhere', () => {
  it("others' failed updates that mention the person by @username or name lose their payload", async () => {
    const p = await person();
    const other = await person(10);
    const mentions = [text(other, `/regalar 1 @${p.username}`), text(other, `/regalar besos a ${p.firstName}`)];
    for (const u of mentions) {
      t.telegram.failNext('sendMessage', 1, 400, { description: 'Bad Request: chat not found' });
      await t.post(u);
    }
    const kept = await db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM telegram_updates WHERE update_id IN ${db(mentions.map((u) => u.update_id))} AND status = 'failed' AND payload IS NOT NULL`;
    expect(kept[0]!.n).toBe(mentions.length); // the check can fail
    await t.post(await eraseConfirmation(p));
    expect(await tablesMentioning([p.username, p.firstName])).toEqual({});
  });

  it("another user's pending gift to the person keeps no name of theirs", async () => {
    const p = await person();
    const other = await person(10);
    await t.post(text(other, `/regalar 3 @${p.username}`));
    await t.post(await eraseConfirmation(p));
    expect(await keysMentioning([p.username, p.firstName, String(p.tg)])).toEqual([]);
  });
});
