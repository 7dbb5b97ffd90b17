import { describe, expect, it } from 'vitest';
import { createEvent, type EventData, type EventType } from '../../lib/bus/events.js';
import { processEvent, type ProcessDeps } from '../../lib/bus/receive.js';
import { grantBesitos, transferBesitos } from '../../lib/besitos/ledger.js';
import { silentLogger } from '../../lib/log.js';
import { fixedCatalogue, parseCatalogue } from '../../lib/gamification/content.js';
import { createGamificationSubscriber, noticeJob } from '../../lib/gamification/subscriber.js';
import { noticeText } from '../../lib/gamification/notify.js';
import { missionsView } from '../../lib/gamification/index.js';
import { createScheduler } from '../../lib/scheduler/index.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(20);
const TZ = 'America/Mexico_City';

const catalogue = parseCatalogue({
  missions: [
    { key: 'd-frag', title: 'Tres fragmentos', description: 'D', type: 'daily', requirement: { fact: 'fragment_completed', count: 3 } },
    { key: 'w-trivia', title: 'Cinco trivias', description: 'D', type: 'weekly', requirement: { fact: 'trivia_correct', count: 5 } },
    { key: 'gifts', title: 'Regala', description: 'D', type: 'special', reward: { besitos: 40 }, requirement: { fact: 'gift_sent', count: 2, measure: 'distinct' } },
  ],
  achievements: [
    { key: 'first', title: 'Primer paso', description: 'D', rarity: 'common', requirement: { fact: 'fragment_completed', count: 1 }, reward: { item: 'marco' } },
    { key: 'fifty', title: 'Cincuenta', description: 'D', rarity: 'epic', requirement: { fact: 'trivia_correct', count: 50 } },
    { key: 'both', title: 'Ambos', description: 'D', rarity: 'legendary', prerequisites: ['first', 'fifty'] },
    { key: 'missions', title: 'Misionera', description: 'D', rarity: 'rare', requirement: { fact: 'mission_completed', count: 1 } },
  ],
  items: [{ key: 'marco', name: 'Marco dorado', description: 'D', category: 'cosmetic', rarity: 'common', price: 80 }],
});

let now = new Date('2026-03-10T18:00:00Z');
const deps: ProcessDeps = {
  db,
  log: silentLogger,
  timeZone: TZ,
  handlers: { gamification: createGamificationSubscriber({ catalogue: fixedCatalogue(catalogue), clock: () => now }) },
};

function body<T extends EventType>(type: T, data: EventData<T>, userId: number, at: string): string {
  return JSON.stringify(createEvent(type, data, userId, new Date(at)));
}
const fragment = (userId: number, at: string, key = 'f') => body('narrative.fragment_completed', { fragment_key: key, level: 1, besitos_awarded: 0 }, userId, at);
const trivia = (userId: number, at: string) => body('gamification.trivia_answered', { trivia_key: 't', correct: true, reward_besitos: 5, response_ms: 100 }, userId, at);
const deliver = (b: string) => processEvent(deps, 'gamification', b);

async function missionRows(userId: number) {
  return db<{ mission_key: string; period: string; status: string; progress: number }[]>`
    SELECT mission_key, period, status, progress FROM user_missions WHERE user_id = ${userId} ORDER BY mission_key, period`;
}
async function ledgerKeys(userId: number, like: string) {
  return (await db<{ idempotency_key: string; amount: number }[]>`
    SELECT idempotency_key, amount FROM transactions WHERE user_id = ${userId} AND idempotency_key LIKE ${like} ORDER BY id`).map((r) => `${r.idempotency_key}=${r.amount}`);
}
async function outboxTypes(userId: number, type: string) {
  return (await db<{ key: string }[]>`SELECT event->'data'->>'mission_key' AS key FROM outbox WHERE user_id = ${userId} AND type = ${type}`).length;
}

describe('gamification subscriber: missions', () => {
  it('replayed, duplicated and out-of-order events count once, each in its own period', async () => {
    const user = await userWithBesitos(db);
    // Two local days (UTC−6): 9 March and 10 March.
    const day9 = [fragment(user, '2026-03-09T15:00:00Z'), fragment(user, '2026-03-09T16:00:00Z'), fragment(user, '2026-03-10T05:59:00Z')];
    const day10 = [fragment(user, '2026-03-10T06:00:00Z'), fragment(user, '2026-03-10T07:00:00Z'), fragment(user, '2026-03-10T08:00:00Z')];
    // Day 10 first, then two of day 9, every one delivered twice, concurrently.
    await Promise.all([...day10, ...day10, day9[0]!, day9[1]!, day9[0]!].map(deliver));
    expect(await missionRows(user)).toEqual([
      { mission_key: 'd-frag', period: '2026-03-09', status: 'active', progress: 2 },
      { mission_key: 'd-frag', period: '2026-03-10', status: 'completed', progress: 3 },
    ]);
    // The late third fragment of the 9th completes the 9th, not the 10th again.
    expect(await deliver(day9[2]!)).toBe('processed');
    expect(await deliver(day9[2]!)).toBe('duplicate');
    expect(await ledgerKeys(user, 'mission:%')).toEqual([`mission:${user}:d-frag:2026-03-10=20`, `mission:${user}:d-frag:2026-03-09=20`]);
    expect(await outboxTypes(user, 'gamification.mission_completed')).toBe(2);
    expect(await outboxTypes(user, 'gamification.mission_assigned')).toBe(2);
    // A copy that slipped past processed_events (e.g. its row pruned) still counts once: the facts are keyed by event.
    await db`DELETE FROM processed_events WHERE subscriber = 'gamification'`;
    await Promise.all([...day9, ...day10].map(deliver));
    expect((await missionRows(user)).map((r) => r.progress)).toEqual([3, 3]);
    expect(await ledgerKeys(user, 'mission:%')).toHaveLength(2);
    // Completing a mission is itself a fact: the achievement for one mission unlocked once.
    expect(await ledgerKeys(user, 'achievement:%')).toEqual([`achievement:${user}:first=50`, `achievement:${user}:missions=100`]);
    expect(await ledgerMismatches(db, [user])).toEqual([]);
  });

  it('a daily mission starts again at local midnight of BOT_TIMEZONE (moved clock)', async () => {
    const user = await userWithBesitos(db);
    now = new Date('2026-03-11T05:58:00Z'); // 23:58 on the 10th, local
    await deliver(fragment(user, '2026-03-11T05:00:00Z'));
    await deliver(fragment(user, '2026-03-11T05:30:00Z'));
    let view = await missionsView(db, user, now, TZ, catalogue);
    expect(view.find((m) => m.key === 'd-frag')).toMatchObject({ progress: 2, target: 3, completed: false, endsAt: new Date('2026-03-11T06:00:00Z') });
    now = new Date('2026-03-11T06:00:01Z'); // 00:00:01 on the 11th
    view = await missionsView(db, user, now, TZ, catalogue);
    expect(view.find((m) => m.key === 'd-frag')).toMatchObject({ progress: 0, completed: false, endsAt: new Date('2026-03-12T06:00:00Z') });
    await deliver(fragment(user, '2026-03-11T06:00:30Z'));
    view = await missionsView(db, user, now, TZ, catalogue);
    expect(view.find((m) => m.key === 'd-frag')).toMatchObject({ progress: 1 });
    // Weekly: Monday 9 March 00:00 local to Monday 16 March.
    expect(view.find((m) => m.key === 'w-trivia')).toMatchObject({ progress: 0, endsAt: new Date('2026-03-16T06:00:00Z') });
  });

  it('gifts to two different people (read from the real ledger events) complete the gift mission once', async () => {
    const giver = await userWithBesitos(db, 100);
    const a = await userWithBesitos(db);
    const b = await userWithBesitos(db);
    for (const [to, key] of [[a, 'g1'], [a, 'g2'], [b, 'g3']] as const) {
      await transferBesitos(db, { fromUserId: giver, toUserId: to, amount: 5, source: 'gift', idempotencyKey: `${key}:${giver}` });
    }
    const events = await db<{ event: unknown }[]>`SELECT event FROM outbox WHERE user_id = ${giver} AND type = 'gamification.besitos_spent' ORDER BY id`;
    expect(events).toHaveLength(3);
    await deliver(JSON.stringify(events[0]!.event));
    await deliver(JSON.stringify(events[1]!.event));
    expect((await missionRows(giver)).find((r) => r.mission_key === 'gifts')).toMatchObject({ progress: 1, status: 'active' });
    await deliver(JSON.stringify(events[2]!.event));
    expect((await missionRows(giver)).find((r) => r.mission_key === 'gifts')).toMatchObject({ progress: 2, status: 'completed' });
    expect(await ledgerKeys(giver, 'mission:%')).toEqual([`mission:${giver}:gifts:once=40`]);
  });
});

describe('gamification subscriber: achievements', () => {
  it('50 concurrent events unlock the threshold exactly once, its dependent once, and schedule one congratulation each', async () => {
    const user = await userWithBesitos(db);
    await deliver(fragment(user, '2026-03-10T12:00:00Z'));
    const bodies = Array.from({ length: 50 }, (_, i) => trivia(user, `2026-03-10T12:${String(i).padStart(2, '0')}:00Z`));
    const outcomes = await Promise.all([...bodies, ...bodies.slice(0, 10)].map(deliver));
    expect(outcomes.filter((o) => o === 'processed')).toHaveLength(50);
    const rows = await db<{ achievement_key: string; progress: number; target: number; unlocked: boolean }[]>`
      SELECT achievement_key, progress, target, unlocked_at IS NOT NULL AS unlocked FROM user_achievements WHERE user_id = ${user} ORDER BY achievement_key`;
    expect(rows).toEqual([
      { achievement_key: 'both', progress: 2, target: 2, unlocked: true },
      { achievement_key: 'fifty', progress: 50, target: 50, unlocked: true },
      { achievement_key: 'first', progress: 1, target: 1, unlocked: true },
      // The 5th trivia completed the weekly mission, and that unlocked "missions".
      { achievement_key: 'missions', progress: 1, target: 1, unlocked: true },
    ]);
    expect(await ledgerKeys(user, 'achievement:%')).toEqual([
      `achievement:${user}:first=50`,
      `achievement:${user}:missions=100`,
      `achievement:${user}:fifty=150`,
      `achievement:${user}:both=200`,
    ]);
    const unlockedEvents = await db`SELECT 1 FROM outbox WHERE user_id = ${user} AND type = 'gamification.achievement_unlocked'`;
    expect(unlockedEvents).toHaveLength(4);
    expect(await ledgerKeys(user, 'mission:%')).toEqual([`mission:${user}:w-trivia:2026-03-09=50`]);
    const jobs = await db<{ key: string }[]>`SELECT key FROM scheduled_jobs WHERE key LIKE ${`gamification.notice:achievement:${user}:%`} ORDER BY key`;
    expect(jobs.map((j) => j.key.split(':').pop())).toEqual(['both', 'fifty', 'first', 'missions']);
    // The reward item of "first" is in the backpack, once.
    expect(await db`SELECT item_key, quantity FROM user_inventory WHERE user_id = ${user}`).toEqual([{ item_key: 'marco', quantity: 1 }]);
    expect(await ledgerMismatches(db, [user])).toEqual([]);
  });

  it('the congratulation is sent in Spanish by the scheduler, once; an erased user gets nothing and counts nothing', async () => {
    const user = await userWithBesitos(db);
    const [u] = await db<{ telegram_id: number }[]>`SELECT telegram_id FROM users WHERE id = ${user}`;
    now = new Date();
    await deliver(fragment(user, now.toISOString()));
    const sent: { chat: number; text: string }[] = [];
    const telegram = { sendMessage: async (chat: number, text: string) => (sent.push({ chat, text }), {}) } as never;
    const scheduler = createScheduler({ db, log: silentLogger, clock: () => new Date(Date.now() + 1000), timeZone: TZ, telegram });
    await scheduler.runJob(`gamification.notice:achievement:${user}:first`);
    await scheduler.runJob(`gamification.notice:achievement:${user}:first`);
    expect(sent).toEqual([{ chat: Number(u!.telegram_id), text: expect.stringContaining('¡Logro desbloqueado: <b>Primer paso</b>!') }]);
    expect(sent[0]!.text).toContain('50 besitos');
    expect(sent[0]!.text).toContain('<b>Marco dorado</b>');
    expect(noticeJob.kind).toBe('gamification.notice');
    expect(noticeText({ user_id: 1, what: 'mission', title: 'A<b>', reward_besitos: 20, item_names: [] })).toBe('🎯 ¡Misión cumplida: <b>A&lt;b&gt;</b>!\nRecibes <b>20 besitos</b>.\nTus misiones: /misiones.');

    const erased = await userWithBesitos(db);
    await db`UPDATE users SET deleted_at = now(), telegram_id = NULL WHERE id = ${erased}`;
    expect(await deliver(fragment(erased, now.toISOString()))).toBe('processed');
    expect(await db`SELECT 1 FROM gamification_facts WHERE user_id = ${erased}`).toHaveLength(0);
  });
});

describe('gamification subscriber: a reward the ledger refuses', () => {
  // The grant goes out with the COMMIT, assumed paid; a refusal aborts that transaction and the bus
  // runs it again awaiting the grant (lib/gamification/subscriber.ts rewardsWithCommit).
  it('over the source\'s daily cap: the mission completes once, pays nothing, and the congratulation says why', async () => {
    const user = await userWithBesitos(db);
    now = new Date('2026-03-12T18:00:00Z');
    // Today's 'mission' cap (200 besitos a day) used up by earlier missions.
    for (let i = 0; i < 4; i++)
      await grantBesitos(db, { userId: user, amount: 50, source: 'mission', idempotencyKey: `earlier:${user}:${i}`, now, timeZone: TZ });
    const three = ['2026-03-12T15:00:00Z', '2026-03-12T16:00:00Z', '2026-03-12T17:00:00Z'].map((at, i) => fragment(user, at, `k${i}`));
    for (const b of three) expect(await deliver(b)).toBe('processed');
    await Promise.all(three.map(deliver));
    expect(await missionRows(user)).toEqual([{ mission_key: 'd-frag', period: '2026-03-12', status: 'completed', progress: 3 }]);
    expect(await ledgerKeys(user, 'mission:%')).toEqual([]);
    const completed = await db<{ reward: number }[]>`
      SELECT (event->'data'->>'reward_besitos')::int AS reward FROM outbox WHERE user_id = ${user} AND type = 'gamification.mission_completed'`;
    expect(completed).toEqual([{ reward: 0 }]);
    const [job] = await db<{ payload: { reward_besitos: number; capped?: string } }[]>`
      SELECT payload FROM scheduled_jobs WHERE key = ${`gamification.notice:mission:${user}:d-frag:2026-03-12`}`;
    expect(job!.payload.reward_besitos).toBe(0);
    expect(job!.payload.capped).toMatch(/límite|tope|máximo/i);
    // The achievement of the same events (a source under its cap) was paid in the same run.
    expect(await ledgerKeys(user, 'achievement:%')).toEqual([`achievement:${user}:first=50`, `achievement:${user}:missions=100`]);
    expect(await ledgerMismatches(db, [user])).toEqual([]);
  });
});

describe('gamification subscriber: a write that fails halfway', () => {
  // user_achievements: the first of the last writes; user_inventory: the reward item, the last one
  // before COMMIT (they go out together with it: lib/db/transaction.ts withPipelinedTransaction).
  it.each(['user_achievements', 'user_inventory'])('(%s) leaves the event unmarked and nothing of it stored; the redelivery counts it once', async (table) => {
    const user = await userWithBesitos(db);
    const b = fragment(user, '2026-03-10T12:00:00Z');
    const eventId = (JSON.parse(b) as { event_id: string }).event_id;
    // The achievements' upsert fails: it is sent together with the mission row, the events and the
    // congratulation, after the claim, the snapshot and the reward went out in the same transaction.
    await db.unsafe(`
      CREATE OR REPLACE FUNCTION fail_achievement() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER fail_achievement_${user} BEFORE INSERT ON ${table} FOR EACH ROW
        WHEN (NEW.user_id = ${user}) EXECUTE FUNCTION fail_achievement();`);
    try {
      await expect(deliver(b)).rejects.toThrow(/injected failure/);
    } finally {
      await db.unsafe(`DROP TRIGGER fail_achievement_${user} ON ${table}`);
    }
    expect(await db`SELECT 1 FROM processed_events WHERE subscriber = 'gamification' AND event_id = ${eventId}`).toHaveLength(0);
    expect(await db`SELECT 1 FROM gamification_facts WHERE user_id = ${user}`).toHaveLength(0);
    expect(await missionRows(user)).toEqual([]);
    expect(await ledgerKeys(user, 'achievement:%')).toEqual([]);
    expect(await db`SELECT 1 FROM outbox WHERE user_id = ${user} AND type LIKE 'gamification.%'`).toHaveLength(0);
    expect(await db`SELECT 1 FROM item_moves WHERE user_id = ${user}`).toHaveLength(0);
    expect(await db`SELECT 1 FROM scheduled_jobs WHERE key LIKE ${`gamification.notice:%:${user}:%`}`).toHaveLength(0);

    expect(await deliver(b)).toBe('processed');
    expect(await deliver(b)).toBe('duplicate');
    expect(await missionRows(user)).toEqual([{ mission_key: 'd-frag', period: '2026-03-10', status: 'active', progress: 1 }]);
    expect(await ledgerKeys(user, 'achievement:%')).toEqual([`achievement:${user}:first=50`]);
    expect(await db`SELECT item_key, quantity FROM user_inventory WHERE user_id = ${user}`).toEqual([{ item_key: 'marco', quantity: 1 }]);
    expect(await ledgerMismatches(db, [user])).toEqual([]);
  });
});

describe('gamification state: /perfil, /exportar, /borrar', () => {
  it('the provider counts what the user has; erasure deletes progress and backpack, keeps purchases for accounting', async () => {
    const { stateProviders } = await import('../../lib/users/state.js');
    const { eraseUser, erasureHooks } = await import('../../lib/users/privacy.js');
    const { createMemoryStore } = await import('../../lib/kv/memory.js');
    const user = await userWithBesitos(db);
    await deliver(fragment(user, '2026-03-10T12:00:00Z'));
    const provider = stateProviders.all().find((p) => p.key === 'gamification')!;
    const value = provider.schema.parse(await provider.load!(db, user));
    // /exportar's view (no key-value store: no places); the first fragment unlocked one achievement.
    expect(value).toMatchObject({ missions_completed: 0, achievements: 1, items: 1, item_kinds: 1, effects: 0, anonymous: false, places: null });
    const sections = provider.sections!(value);
    expect(sections.map((s) => s.title)).toEqual(['🎯 Misiones', '🏅 Logros', '🎒 Mochila', '🏆 Ranking']);
    expect(sections[1]!.body).toMatch(/^Desbloqueados: <b>1<\/b>/);
    const exported = (await erasureHooks.find((h) => h.name === 'gamification')!.export!(db, { userId: user, telegramId: 1 })) as Record<string, unknown[]>;
    // "first" unlocked, and the progress of "both" that depends on it (1 of 2).
    expect(exported.achievements).toEqual([
      expect.objectContaining({ achievement_key: 'both', progress: 1, target: 2, unlocked_at: null }),
      expect.objectContaining({ achievement_key: 'first', progress: 1, unlocked_at: expect.any(Date) }),
    ]);
    expect(exported.inventory).toHaveLength(1);
    // The facts progress is computed from go out too (the fragment completed), without event ids.
    expect(exported.facts).toEqual([expect.objectContaining({ kind: 'fragment_completed', amount: 1 })]);
    expect(exported.facts![0]).not.toHaveProperty('source_id');
    expect(exported.effects).toEqual([]);
    const [u] = await db<{ telegram_id: number }[]>`SELECT telegram_id FROM users WHERE id = ${user}`;
    await eraseUser(db, createMemoryStore(), { userId: user, telegramId: Number(u!.telegram_id) });
    for (const table of ['gamification_facts', 'user_missions', 'user_achievements', 'user_inventory'])
      expect(await db`SELECT 1 FROM ${db(table)} WHERE user_id = ${user}`).toHaveLength(0);
    expect(await db`SELECT 1 FROM item_moves WHERE user_id = ${user}`).toHaveLength(1);
    // Events arriving after /borrar count nothing.
    await deliver(fragment(user, '2026-03-10T13:00:00Z'));
    expect(await db`SELECT 1 FROM gamification_facts WHERE user_id = ${user}`).toHaveLength(0);
  });
});
