import { afterAll, describe, expect, inject, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { prefixedStore } from '../fault/kv-prefix.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { useTestDb, uniqueTelegramId } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, lastTo } from '../support/users.js';

/**
 * Issue 16 / 23, "caps per person": erasing (/borrar) and registering again is the same person for
 * every per-person limit, also where the grant comes from a module that never saw the update.
 */
const db = useTestDb(10);
const redisUrl = inject('redisUrl');
const base = redisUrl ? await createRedisStore(redisUrl) : createMemoryStore();
afterAll(() => base.close?.());
const kv = prefixedStore(base, `person-rewards-${process.pid}-${Date.now()}:`);
// The real catalogue (missions, achievements) and the sample story and trivia.
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_CALLBACKS: '10000' }, { kv, gamificationCatalogue: undefined });

type Who = { tg: number; firstName: string; username: string };
const someone = (name: string): Who => {
  const tg = uniqueTelegramId();
  return { tg, firstName: `${name}${tg}`, username: `${name.toLowerCase()}${tg}` };
};
const say = (p: Who, text: string) => t.post(textUpdate(p.tg, text, { firstName: p.firstName, username: p.username }));
const press = (p: Who, data: string) => t.post(callbackUpdate(p.tg, data));
const idOf = async (p: Who) => Number((await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${p.tg}`)[0]!.id);

async function erase(p: Who) {
  await say(p, '/borrar');
  const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', p.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
  expect((await press(p, yes)).status).toBe(200);
}

async function settle() {
  for (let i = 0; i < 3; i++) {
    await t.app.bus.idle();
    await t.app.bus.sweep();
  }
}

describe('caps per person, whoever grants', () => {
  it('the account keeps its pseudonym, also after /borrar; a grant without one (a subscriber) counts in the person’s caps, which a new account inherits', async () => {
    const me = someone('Tope');
    await say(me, '/start');
    const first = await idOf(me);
    const [row] = await db<{ person: string | null }[]>`SELECT person FROM users WHERE id = ${first}`;
    const person = row!.person!;
    expect(person).toMatch(/^[0-9a-f]{32}$/);
    // Story rewards of 298 today (cap: 300 a day), granted the way a module does it: no pseudonym passed.
    for (const [i, amount] of [100, 100, 98].entries())
      await grantBesitos(db, { userId: first, amount, source: 'story', idempotencyKey: `caps-story:${first}:${i}` });
    await erase(me);
    expect((await db<{ person: string | null }[]>`SELECT person FROM users WHERE id = ${first}`)[0]!.person).toBe(person);

    // Coming back: a new account, the same person. The first decision's 3 besitos would pass 300.
    await say(me, '/historia');
    const second = await idOf(me);
    expect(second).not.toBe(first);
    const cont = buttonsOf(lastTo(t.telegram, 'sendMessage', me.tg)).find((d) => d.startsWith('h:c:'))!;
    await press(me, cont);
    const decision = buttonsOf(lastTo(t.telegram, 'sendMessage', me.tg)).find((d) => d.startsWith('h:d:'))!;
    await press(me, decision);
    expect(t.telegram.sentTexts(me.tg).some((x) => x.includes('Ya alcanzaste el máximo de hoy'))).toBe(true);
    const story = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${second} AND source = 'story'`;
    expect(story[0]!.n).toBe(0);
    const subjects = await db<{ subject: string; day_besitos: number }[]>`
      SELECT subject, day_besitos FROM besitos_caps WHERE source = 'story' AND subject IN ${db([person, `user:${first}`, `user:${second}`])}`;
    expect(subjects.map((s) => [s.subject, Number(s.day_besitos)])).toEqual([[person, 298]]);
    await settle();
    expect(await ledgerMismatches(db, [first, second])).toEqual([]);
  });
});
