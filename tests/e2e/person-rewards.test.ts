import { afterAll, describe, expect, inject, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { alreadyRewardedText } from '../../lib/besitos/first-time.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { prefixedStore } from '../fault/kv-prefix.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { useTestDb, uniqueTelegramId } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';
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
    const cont = lastButton(me, (d) => d.startsWith('h:c:'))!;
    await press(me, cont);
    const decision = lastButton(me, (d) => d.startsWith('h:d:'))!;
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

/** The sample story's first fragments: continue / first decision, `presses` times. */
async function playFirstFragments(p: Who, presses = 3) {
  await say(p, '/historia');
  for (let i = 0; i < presses; i++) {
    // The last fragment sent (a note on the reward may follow it).
    const screens = t.telegram.callsOf('sendMessage').filter((c) => Number(c.payload.chat_id) === p.tg && buttonsOf(c).some((d) => d.startsWith('h:')));
    const b = buttonsOf(screens.at(-1)).find((d) => d.startsWith('h:c:') || d.startsWith('h:d:'));
    expect(b, `story button ${i}`).toBeDefined();
    await press(p, b!);
  }
}

/**
 * The last button of this kind sent to the user. Not simply the last message's: a congratulation or a
 * notice of the subscriber (asynchronous) may arrive after the screen that carries the buttons.
 */
function lastButton(p: Who, want: (data: string) => boolean): string | undefined {
  const screens = t.telegram.callsOf('sendMessage').filter((c) => Number(c.payload.chat_id) === p.tg && buttonsOf(c).some(want));
  return buttonsOf(screens.at(-1)).find(want);
}

/** /trivia and the right answer to the first question (A jazmín). */
async function answerFirstTrivia(p: Who) {
  await say(p, '/trivia');
  const right = lastButton(p, (d) => d.endsWith(':aroma_carta:2'));
  expect(right, 'the trivia question with its answer buttons').toBeDefined();
  await press(p, right!);
}

const SOURCES = ['daily', 'story', 'trivia', 'achievement', 'mission'] as const;
async function earnedBySource(ids: number[]): Promise<Record<string, number[]>> {
  const rows = await db<{ user_id: number; source: string; s: number }[]>`
    SELECT user_id, source, sum(amount)::int AS s FROM transactions WHERE user_id IN ${db(ids)} AND type = 'grant' GROUP BY 1, 2`;
  return Object.fromEntries(SOURCES.map((src) => [src, ids.map((id) => rows.find((r) => Number(r.user_id) === id && r.source === src)?.s ?? 0)]));
}

describe('first-time rewards once per person, however often they erase', () => {
  const CYCLES = 10;
  it(`${CYCLES} cycles of register, first fragments, trivia, /daily, an achievement and a mission, /borrar: each reward paid once in all, each cap counted once`, async () => {
    const me = someone('Bucle');
    const ids: number[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await say(me, '/start');
      ids.push(await idOf(me));
      await playFirstFragments(me); // 3 fragments: the achievement "Primer paso" and the daily mission "Lectora del día"
      await answerFirstTrivia(me);
      await say(me, '/daily');
      await settle(); // the gamification subscriber: the achievement and the mission complete
      await drainJobs(t.app, () => undefined); // their congratulations
      // Progress works on every account: unlocked and completed, whether paid or not.
      const [unlocked] = await db<{ n: number }[]>`
        SELECT count(*)::int AS n FROM user_achievements WHERE user_id = ${ids[cycle]!} AND achievement_key = 'primer-paso' AND unlocked_at IS NOT NULL`;
      expect(unlocked!.n, `cycle ${cycle}`).toBe(1);
      const [done] = await db<{ n: number }[]>`
        SELECT count(*)::int AS n FROM user_missions WHERE user_id = ${ids[cycle]!} AND mission_key = 'diaria-fragmentos' AND status = 'completed'`;
      expect(done!.n, `cycle ${cycle}`).toBe(1);
      await erase(me);
    }
    expect(new Set(ids).size).toBe(CYCLES);
    const earned = await earnedBySource(ids);
    // The first account earned every kind of reward; none of the nine that came after it earned anything.
    for (const src of SOURCES) {
      expect(earned[src]![0], `${src} paid to the first account`).toBeGreaterThan(0);
      expect(earned[src]!.slice(1), `${src} paid to later accounts`).toEqual(Array(CYCLES - 1).fill(0));
    }
    // They were told why, in Spanish: the trivia and story answers and the congratulations.
    const told = t.telegram.sentTexts(me.tg).filter((x) => x.includes(alreadyRewardedText())).length;
    const edits = t.telegram.callsOf('editMessageText').filter((c) => Number(c.payload.chat_id) === me.tg && String(c.payload.text).includes(alreadyRewardedText())).length;
    expect(told + edits).toBeGreaterThanOrEqual((CYCLES - 1) * 3);
    expect(t.telegram.sentTexts(me.tg).filter((x) => x.startsWith('Hoy ya recibiste tu regalo diario'))).toHaveLength(CYCLES - 1);
    // One counter row per source for the person, counting the first account's grants only.
    const person = (await db<{ person: string }[]>`SELECT person FROM users WHERE id = ${ids[0]!}`)[0]!.person;
    const caps = await db<{ source: string; day_grants: number; day_besitos: number }[]>`
      SELECT source, day_grants, day_besitos FROM besitos_caps WHERE subject = ${person} ORDER BY source`;
    expect(caps.map((c) => c.source)).toEqual([...SOURCES].sort());
    for (const c of caps) expect(Number(c.day_besitos), c.source).toBe(earned[c.source]![0]);
    expect(await db`SELECT 1 FROM besitos_caps WHERE subject IN ${db(ids.map((id) => `user:${id}`))}`).toHaveLength(0);
    const paid = await db<{ user_id: number }[]>`SELECT DISTINCT user_id FROM person_rewards WHERE person = ${person}`;
    expect(paid.map((r) => Number(r.user_id))).toEqual([ids[0]]);
    expect(await ledgerMismatches(db, ids)).toEqual([]);
    console.log(`[person-rewards] ${CYCLES} cycles, earned per source by account: ${JSON.stringify(earned)}`);
  });
});

describe('how long the pseudonym is kept after /borrar (lib/users/retention.ts, as /privacidad says)', () => {
  it('180 days on the erased account, its first-time rewards and referral newness; 14 days on cap counters; a live account keeps it', async () => {
    const { prunePseudonyms, PSEUDONYM_RETENTION } = await import('../../lib/users/retention.js');
    expect(PSEUDONYM_RETENTION.erasedDays).toBe(180);
    const [old, recent, live] = [someone('Vieja'), someone('Reciente'), someone('Viva')];
    for (const p of [old, recent, live]) {
      await playFirstFragments(p, 2); // the first decision's story reward: a person_rewards row
    }
    const ids = await Promise.all([old, recent, live].map(idOf));
    const persons = (await db<{ id: number; person: string }[]>`SELECT id, person FROM users WHERE id IN ${db(ids)}`).map((r) => r.person);
    for (const p of [old, recent]) await erase(p);
    const now = new Date();
    await db`UPDATE users SET deleted_at = ${new Date(now.getTime() - 181 * 86_400_000)} WHERE id = ${ids[0]!}`;
    await db`UPDATE referral_known_persons SET erased_at = ${new Date(now.getTime() - 181 * 86_400_000)} WHERE person = ${persons[0]!}`;
    await db`INSERT INTO besitos_caps (subject, source, day, day_besitos, day_grants, week, week_besitos, week_grants)
             VALUES (${persons[0]!}, 'trivia', now()::date - 20, 5, 1, now()::date - 20, 5, 1)`;
    await prunePseudonyms(db, now);
    const kept = async (table: string, column: string) =>
      (await db.unsafe(`SELECT DISTINCT ${column} AS p FROM ${table} WHERE ${column} = ANY($1::text[])`, [persons])).map((r) => r.p).sort();
    expect(await kept('users', 'person')).toEqual([persons[1], persons[2]].sort());
    expect(await kept('person_rewards', 'person')).toEqual([persons[1], persons[2]].sort());
    expect(await kept('referral_known_persons', 'person')).toEqual([persons[1]]);
    expect(await db`SELECT 1 FROM besitos_caps WHERE subject = ${persons[0]!} AND source = 'trivia'`).toHaveLength(0);
    expect(await db`SELECT 1 FROM besitos_caps WHERE subject = ${persons[1]!} AND source = 'story'`).toHaveLength(1);
    // After that time the person is new again: the story's first reward is paid to the account they open now.
    await playFirstFragments(old, 2);
    const again = await idOf(old);
    expect((await db<{ s: number }[]>`SELECT COALESCE(sum(amount), 0)::int AS s FROM transactions WHERE user_id = ${again} AND source = 'story'`)[0]!.s).toBeGreaterThan(0);
  });
});

describe('/exportar shows what is kept per person (person_rewards, caps), with why', () => {
  it('after /borrar and coming back, the export lists the rewards collected by the earlier account and today’s cap counts, explained in Spanish', async () => {
    const me = someone('Export');
    await playFirstFragments(me, 2); // the first decision's story reward: a person_rewards row of the first account
    await settle();
    const first = await idOf(me);
    const person = (await db<{ person: string }[]>`SELECT person FROM users WHERE id = ${first}`)[0]!.person;
    const paid = await db<{ reward: string }[]>`SELECT reward FROM person_rewards WHERE person = ${person} ORDER BY paid_at, reward`;
    expect(paid.length).toBeGreaterThan(0);
    await erase(me);

    await say(me, '/start');
    const second = await idOf(me);
    expect(second).not.toBe(first);
    const docs = t.telegram.callsOf('sendDocument').length;
    await say(me, '/exportar');
    await settle();
    expect(t.telegram.callsOf('sendDocument')).toHaveLength(docs + 1);
    const data = exportedJson(t.telegram.callsOf('sendDocument').at(-1));
    expect(data.profile.internal_id).toBe(second);
    expect(data.per_person.explicacion).toContain('se guardan por persona y no por cuenta, para prevenir fraudes');
    expect(data.per_person.first_time_rewards.explicacion).toContain('una sola vez por persona');
    expect(data.per_person.first_time_rewards.rewards.map((r: { reward: string; this_account: boolean }) => [r.reward, r.this_account])).toEqual(
      paid.map((r) => [r.reward, false]),
    );
    const story = data.per_person.caps.sources.find((c: { source: string }) => c.source === 'story');
    expect(story).toMatchObject({ day_grants: 1 });
    expect(story.day_besitos).toBeGreaterThan(0);
    // The pseudonym itself, and the earlier account's id, are not in the document.
    expect(JSON.stringify(data)).not.toContain(person);
    expect(JSON.stringify(data.per_person)).not.toMatch(new RegExp(`\\b${first}\\b`));
  });
});

function exportedJson(call: { payload: Record<string, any> } | undefined): any {
  const body = String(call?.payload._raw ?? '');
  const m = /filename="dianabot-\d{4}-\d{2}-\d{2}\.json"[\s\S]*?\r\n\r\n([\s\S]*?)\r\n--/.exec(body);
  if (!m) throw new Error('no JSON document in the sendDocument body');
  return JSON.parse(m[1]!);
}
