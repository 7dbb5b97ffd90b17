import { afterAll, describe, expect, inject, it } from 'vitest';
import { getBalance, grantBesitos } from '../../lib/besitos/ledger.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { prefixedStore } from '../fault/kv-prefix.js';
import { callbackUpdate, startTestApp, textUpdate, type TestApp } from '../support/app.js';
import { useTestDb, uniqueTelegramId } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, lastTo } from '../support/users.js';

const db = useTestDb();
const redisUrl = inject('redisUrl');
const base = redisUrl ? await createRedisStore(redisUrl) : createMemoryStore();
afterAll(() => base.close?.());
const kv = prefixedStore(base, `abuse-${process.pid}-${Date.now()}:`);
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' }, { kv });
const msg = t.app.bot.context.t!;

let seq = 0;
/** A person with a Telegram id, unique names and (optionally) besitos. */
async function person(app: TestApp = t, besitos = 0) {
  const tg = uniqueTelegramId();
  const n = ++seq;
  const p = { tg, username: `usr${tg}`, firstName: `Nom${tg}x${n}` };
  await app.post(textUpdate(tg, '/start', { firstName: p.firstName, username: p.username }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { ...p, id: row!.id };
}
type Person = Awaited<ReturnType<typeof person>>;
const say = (app: TestApp, p: Pick<Person, 'tg' | 'firstName' | 'username'>, text: string) =>
  app.post(textUpdate(p.tg, text, { firstName: p.firstName, username: p.username }));

/** /borrar and its confirmation through the webhook. */
async function erase(app: TestApp, p: Pick<Person, 'tg' | 'firstName' | 'username'>) {
  await say(app, p, '/borrar');
  const yes = buttonsOf(lastTo(app.telegram, 'sendMessage', p.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
  expect((await app.post(callbackUpdate(p.tg, yes))).status).toBe(200);
}

describe('one daily gift per person, however often they erase', () => {
  it('the erase-and-claim loop: /daily, gift it to a friend, /borrar, again — the friend gets one gift, the person one daily', async () => {
    const friend = await person();
    const me = { tg: uniqueTelegramId(), firstName: 'Ciclista', username: `cic${Date.now() % 1e9}` };
    const dailyBefore = (await db<{ s: number }[]>`SELECT COALESCE(sum(amount), 0)::int AS s FROM transactions WHERE source = 'daily'`)[0]!.s;
    for (let cycle = 0; cycle < 8; cycle++) {
      await say(t, me, '/daily');
      await say(t, me, `/regalar 10 @${friend.username}`);
      const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', me.tg, /^¿Regalar/)).find((d) => d.startsWith('g:y:'));
      if (yes) await t.post(callbackUpdate(me.tg, yes));
      await erase(t, me);
    }
    // Only the first incarnation got the gift; every later /daily was told it's one per person per day.
    expect((await getBalance(db, friend.id)).besitos).toBe(10);
    const dailyAfter = (await db<{ s: number }[]>`SELECT COALESCE(sum(amount), 0)::int AS s FROM transactions WHERE source = 'daily'`)[0]!.s;
    expect(dailyAfter - dailyBefore).toBe(10);
    expect(t.telegram.sentTexts(me.tg).filter((x) => x.startsWith('Hoy ya recibiste tu regalo diario'))).toHaveLength(7);
    expect(await ledgerMismatches(db)).toEqual([]);
  });

  it('concurrent /daily of two incarnations of the same person (erased between) grant once', async () => {
    const me = await person();
    // Claim, erase and come back with several /daily racing one another: one grant today in all.
    await say(t, me, '/daily');
    await erase(t, me);
    await Promise.all(Array.from({ length: 6 }, () => say(t, me, '/daily')));
    const grants = await db`
      SELECT c.user_id FROM daily_claims c WHERE c.person = (SELECT person FROM daily_claims WHERE user_id = ${me.id})`;
    expect(grants).toHaveLength(1);
  });

  it('rate limits outlive /borrar: erasing does not reset the budget, and the keys hold no Telegram id', async () => {
    const limited = await startTestApp({ RATE_LIMIT_MESSAGES: '4', RATE_LIMIT_CALLBACKS: '1000' }, { kv: prefixedStore(base, `abuse-rl-${process.pid}-${Date.now()}:`) });
    const me = { tg: uniqueTelegramId(), firstName: 'Rapida', username: `rap${Date.now() % 1e9}` };
    await say(limited, me, '/start'); // 1
    await erase(limited, me); // 2 (/borrar) + a button press
    await say(limited, me, '/start'); // 3
    await say(limited, me, '/balance'); // 4
    const before = limited.telegram.sentTexts(me.tg).length;
    await say(limited, me, '/balance'); // 5: over the budget
    expect(limited.telegram.sentTexts(me.tg).slice(before)).toEqual([msg.rateLimited(60)]);
  });
});

describe('an update_id is bound to its first body', () => {
  it('a redelivery of an update left in retry with a different body is logged and ignored; the original body is handled', async () => {
    const me = await person();
    const first = textUpdate(me.tg, '/saldo', { firstName: me.firstName, username: me.username });
    t.telegram.failNext('sendMessage', 3, 502);
    expect((await t.post(first)).status).toBe(503); // kept as 'retry'
    const forged = textUpdate(me.tg, '/regalo', { updateId: first.update_id, firstName: me.firstName, username: me.username });
    const sent = t.telegram.sentTexts(me.tg).length;
    expect(await t.post(forged)).toEqual({ status: 200, body: 'different body' });
    expect(t.telegram.sentTexts(me.tg)).toHaveLength(sent);
    expect(await db`SELECT 1 FROM daily_claims WHERE user_id = ${me.id}`).toHaveLength(0); // the forged /regalo did nothing
    expect(await t.post(first)).toEqual({ status: 200, body: 'ok' });
    expect(t.telegram.sentTexts(me.tg).at(-1)).toContain('Tienes');
  });
});

describe('how long the pseudonym is kept', () => {
  it('cleared from daily claims after 2 days and erasure records after a day (daily maintenance)', async () => {
    const { prunePseudonyms } = await import('../../lib/users/retention.js');
    const [a, b] = [await person(), await person()];
    for (const p of [a, b]) await say(t, p, '/regalo');
    const claimed = await db<{ user_id: number; person: string | null }[]>`SELECT user_id, person FROM daily_claims WHERE user_id IN ${db([a.id, b.id])}`;
    expect(claimed.every((c) => c.person)).toBe(true);
    await db`UPDATE daily_claims SET claimed_at = now() - interval '3 days' WHERE user_id = ${a.id}`;
    await db`INSERT INTO erasures (person, update_id, erased_at) VALUES (${`old-${a.tg}`}, 1, now() - interval '25 hours'), (${`new-${a.tg}`}, 2, now())`;
    const pruned = await prunePseudonyms(db, new Date());
    expect(pruned.claims).toBeGreaterThanOrEqual(1);
    const after = await db<{ user_id: number; person: string | null }[]>`SELECT user_id, person FROM daily_claims WHERE user_id IN ${db([a.id, b.id])}`;
    expect(after.find((c) => Number(c.user_id) === a.id)!.person).toBeNull();
    expect(after.find((c) => Number(c.user_id) === b.id)!.person).toBeTruthy();
    expect((await db`SELECT person FROM erasures WHERE person LIKE ${`%-${a.tg}`}`).map((r) => r.person)).toEqual([`new-${a.tg}`]);
  });
});
