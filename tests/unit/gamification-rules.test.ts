import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createEvent, parseEvent } from '../../lib/bus/events.js';
import { missionSchema, achievementSchema, type Mission, type Achievement } from '../../lib/gamification/catalogue.js';
import { catalogueOf, parseCatalogue, InvalidCatalogue } from '../../lib/gamification/content.js';
import { ContentIndex, loadContentFromDir } from '../../lib/content/index.js';
import { addDays, localDate, startOfLocalDay } from '../../lib/time/zone.js';
import {
  achievementProgress,
  factsFromEvent,
  longestStreak,
  missionDeadline,
  missionProgress,
  periodOf,
  progressBar,
  progressOf,
  timeLeft,
  type Fact,
} from '../../lib/gamification/rules.js';

const TZ = 'America/Mexico_City'; // UTC−6, no DST
const at = (iso: string) => new Date(iso);
let n = 0;
const fact = (kind: Fact['kind'], iso: string, subject: string | null = null, amount = 1, sourceId = `e${++n}`): Fact => ({ kind, sourceId, at: at(iso), subject, amount });

const mission = (m: Record<string, unknown>): Mission =>
  missionSchema.parse({ key: 'm', title: 'T', description: 'D', type: 'daily', requirement: { fact: 'fragment_completed', count: 3 }, ...m });
const achievement = (a: Record<string, unknown>): Achievement =>
  achievementSchema.parse({ key: 'a', title: 'T', description: 'D', rarity: 'common', ...a });

describe('facts from events', () => {
  it('reads each routed event into facts about its user', () => {
    const ev = (type: Parameters<typeof createEvent>[0], data: never) => parseEvent(createEvent(type, data, 7));
    expect(factsFromEvent(ev('narrative.fragment_completed', { fragment_key: 'jardin', level: 1, besitos_awarded: 5 } as never)).map((f) => [f.kind, f.subject])).toEqual([['fragment_completed', 'jardin']]);
    expect(factsFromEvent(ev('gamification.trivia_answered', { trivia_key: 't1', correct: true, reward_besitos: 5, response_ms: 10 } as never)).map((f) => f.kind)).toEqual(['trivia_answered', 'trivia_correct']);
    expect(factsFromEvent(ev('gamification.trivia_answered', { trivia_key: 't1', correct: false, reward_besitos: 0, response_ms: 10 } as never)).map((f) => f.kind)).toEqual(['trivia_answered']);
    const daily = factsFromEvent(ev('gamification.besitos_earned', { amount: 10, source: 'daily', transaction_id: 1, balance_after: 10 } as never));
    expect(daily.map((f) => [f.kind, f.amount])).toEqual([['besitos_earned', 10], ['daily_claimed', 1]]);
    // Compensating entries are not earnings; a gift needs its receiver.
    expect(factsFromEvent(ev('gamification.besitos_earned', { amount: 10, source: 'daily', transaction_id: 2, balance_after: 0, reversal_of: 1 } as never))).toEqual([]);
    const gift = ev('gamification.besitos_spent', { amount: 5, source: 'gift', transaction_id: 3, balance_after: 5 } as never);
    expect(factsFromEvent(gift)).toEqual([]);
    expect(factsFromEvent(gift, { giftReceiverId: 9 }).map((f) => [f.kind, f.subject])).toEqual([['gift_sent', '9']]);
    expect(factsFromEvent(ev('gamification.besitos_spent', { amount: 5, source: 'shop', transaction_id: 4, balance_after: 5 } as never), { giftReceiverId: 9 })).toEqual([]);
  });
});

describe('periods in BOT_TIMEZONE', () => {
  it('a daily period runs from local midnight to the next', () => {
    // 05:59 UTC is 23:59 of the previous local day in Mexico City.
    expect(periodOf('daily', at('2026-03-10T05:59:00Z'), TZ)).toEqual({ key: '2026-03-09', start: at('2026-03-09T06:00:00Z'), end: at('2026-03-10T06:00:00Z') });
    expect(periodOf('daily', at('2026-03-10T06:00:00Z'), TZ).key).toBe('2026-03-10');
  });
  it('a weekly period starts on Monday', () => {
    // 2026-03-08 is a Sunday, 2026-03-09 a Monday.
    expect(periodOf('weekly', at('2026-03-09T05:00:00Z'), TZ).key).toBe('2026-03-02');
    const p = periodOf('weekly', at('2026-03-15T12:00:00Z'), TZ);
    expect(p).toEqual({ key: '2026-03-09', start: at('2026-03-09T06:00:00Z'), end: at('2026-03-16T06:00:00Z') });
  });
  it('once never resets', () => {
    expect(periodOf('once', at('2026-03-10T00:00:00Z'), TZ)).toEqual({ key: 'once', start: null, end: null });
  });
  it('in a DST zone the day still starts at local midnight', () => {
    const p = periodOf('daily', at('2026-03-29T12:00:00Z'), 'Europe/Madrid'); // DST starts that night
    expect(p.start).toEqual(at('2026-03-28T23:00:00Z'));
    expect(p.end).toEqual(at('2026-03-29T22:00:00Z'));
  });
});

describe('periods remembered (no time-zone arithmetic for an instant inside a known period)', () => {
  /** The period as computed from scratch, without the remembered ones. */
  function computed(recurrence: 'daily' | 'weekly', t: Date, zone: string) {
    const day = localDate(t, zone);
    const weekday = new Date(`${day}T00:00:00Z`).getUTCDay() || 7;
    const first = recurrence === 'daily' ? day : addDays(day, 1 - weekday);
    return { key: first, start: startOfLocalDay(first, zone), end: startOfLocalDay(addDays(first, recurrence === 'daily' ? 1 : 7), zone) };
  }
  it('equal the computed ones for instants in any order, across DST changes and half-hour zones', () => {
    const zones = ['America/Mexico_City', 'Europe/Madrid', 'America/New_York', 'America/Santiago', 'Australia/Lord_Howe', 'Asia/Kathmandu'];
    const from = Date.parse('2026-02-15T00:00:00Z'); // 120 days: the March and April DST changes
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 120 * 24 * 60 }), fc.constantFrom(...zones), fc.constantFrom('daily' as const, 'weekly' as const)), { minLength: 1, maxLength: 200 }),
        (draws) => {
          for (const [minute, zone, recurrence] of draws) {
            const t = new Date(from + minute * 60_000);
            expect(periodOf(recurrence, t, zone)).toEqual(computed(recurrence, t, zone));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('mission progress', () => {
  it('counts only the facts of the period containing the moment asked about', () => {
    const m = mission({});
    const facts = [fact('fragment_completed', '2026-03-10T05:00:00Z'), fact('fragment_completed', '2026-03-10T07:00:00Z'), fact('fragment_completed', '2026-03-10T20:00:00Z')];
    expect(missionProgress(m, facts, at('2026-03-10T21:00:00Z'), TZ)).toMatchObject({ progress: 2, target: 3, completed: false });
    expect(missionProgress(m, facts, at('2026-03-10T05:30:00Z'), TZ)).toMatchObject({ progress: 1, completed: false });
    // The moved clock: past local midnight the daily mission starts from zero.
    expect(missionProgress(m, facts, at('2026-03-11T06:00:00Z'), TZ)).toMatchObject({ progress: 0, period: { key: '2026-03-11' } });
  });
  it('each event counts once, whatever the order or the duplicates', () => {
    const m = mission({ type: 'weekly', requirement: { fact: 'trivia_correct', count: 5 } });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 40 }), (picks) => {
        const base = Array.from({ length: 10 }, (_, i) => fact('trivia_correct', `2026-03-1${i % 5}T12:00:00Z`, null, 1, `ev${i}`));
        const delivered = picks.map((i) => base[i]!);
        const distinct = new Set(picks).size; // all ten happen in the week of 2026-03-09
        const p = missionProgress(m, delivered, at('2026-03-14T12:00:00Z'), TZ);
        expect(p.progress).toBe(Math.min(5, distinct));
      }),
    );
  });
  it('a streak of daily claims: consecutive local days, order-free', () => {
    const m = mission({ type: 'weekly', requirement: { fact: 'daily_claimed', count: 5, measure: 'streak_days' } });
    const days = ['2026-03-13', '2026-03-10', '2026-03-11', '2026-03-12', '2026-03-09'].map((d) => fact('daily_claimed', `${d}T18:00:00Z`));
    expect(missionProgress(m, days, at('2026-03-14T00:00:00Z'), TZ)).toMatchObject({ progress: 5, completed: true });
    expect(missionProgress(m, days.slice(0, 1).concat(days.slice(2)), at('2026-03-14T00:00:00Z'), TZ).progress).toBe(3);
  });
  it('distinct gift receivers', () => {
    const m = mission({ type: 'special', reward: { besitos: 40 }, requirement: { fact: 'gift_sent', count: 2, measure: 'distinct' } });
    const gifts = [fact('gift_sent', '2026-03-10T12:00:00Z', '5'), fact('gift_sent', '2026-03-10T12:01:00Z', '5')];
    expect(missionProgress(m, gifts, at('2026-03-10T13:00:00Z'), TZ).progress).toBe(1);
    expect(missionProgress(m, [...gifts, fact('gift_sent', '2026-03-10T12:02:00Z', '6')], at('2026-03-10T13:00:00Z'), TZ).completed).toBe(true);
  });
  it('facts outside the mission dates do not count; the deadline is the sooner of period end and expiry', () => {
    const m = mission({ type: 'special', reward: { besitos: 30 }, starts_at: '2026-03-10T00:00:00Z', expires_at: '2026-03-12T00:00:00Z', requirement: { fact: 'item_purchased', count: 1 } });
    expect(m.recurrence).toBe('once');
    expect(missionProgress(m, [fact('item_purchased', '2026-03-09T12:00:00Z')], at('2026-03-11T00:00:00Z'), TZ).progress).toBe(0);
    expect(missionProgress(m, [fact('item_purchased', '2026-03-12T00:00:00Z')], at('2026-03-11T00:00:00Z'), TZ).progress).toBe(0);
    expect(missionProgress(m, [fact('item_purchased', '2026-03-11T23:59:59Z')], at('2026-03-11T00:00:00Z'), TZ).completed).toBe(true);
    expect(missionDeadline(m, periodOf('once', at('2026-03-11T00:00:00Z'), TZ))).toEqual(at('2026-03-12T00:00:00Z'));
    const d = mission({ expires_at: '2026-03-10T12:00:00Z' });
    expect(missionDeadline(d, periodOf('daily', at('2026-03-10T07:00:00Z'), TZ))).toEqual(at('2026-03-10T12:00:00Z'));
    expect(missionDeadline(mission({}), periodOf('daily', at('2026-03-10T07:00:00Z'), TZ))).toEqual(at('2026-03-11T06:00:00Z'));
  });
  it('rewards by type: daily 20, weekly 50; narrative and special must say theirs', () => {
    expect(mission({}).reward.besitos).toBe(20);
    expect(mission({ type: 'weekly' }).reward.besitos).toBe(50);
    expect(mission({ type: 'weekly' }).recurrence).toBe('weekly');
    expect(() => mission({ type: 'special' })).toThrow(/say their reward/);
    expect(() => mission({ requirement: { fact: 'trivia_correct', count: 2, within_hours: 3 } })).toThrow(/within_hours/);
  });
});

describe('achievements', () => {
  it('thresholds, firsts and sums', () => {
    const first = achievement({ requirement: { fact: 'fragment_completed', count: 1 } });
    expect(achievementProgress(first, [], new Set(), TZ)).toMatchObject({ progress: 0, target: 1, unlocks: false });
    expect(achievementProgress(first, [fact('fragment_completed', '2026-03-10T00:00:00Z')], new Set(), TZ).unlocks).toBe(true);
    const rich = achievement({ rarity: 'epic', requirement: { fact: 'besitos_earned', count: 100, measure: 'sum' } });
    expect(rich.reward.besitos).toBe(150);
    const earned = [fact('besitos_earned', '2026-03-10T00:00:00Z', 'daily', 60), fact('besitos_earned', '2026-03-11T00:00:00Z', 'trivia', 30)];
    expect(achievementProgress(rich, earned, new Set(), TZ)).toMatchObject({ progress: 90, unlocks: false });
    expect(achievementProgress(rich, [...earned, fact('besitos_earned', '2026-03-12T00:00:00Z', 'gift', 10)], new Set(), TZ).unlocks).toBe(true);
  });
  it('a streak counts consecutive local days only', () => {
    expect(longestStreak(['2026-03-01', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-05'])).toBe(3);
    expect(longestStreak(['2026-02-28', '2026-03-01'])).toBe(2);
    expect(longestStreak([])).toBe(0);
    // 23:30 local on the 9th and 00:30 local on the 10th are two days, though one hour apart.
    const streak = achievement({ requirement: { fact: 'daily_claimed', count: 2, measure: 'streak_days' } });
    expect(achievementProgress(streak, [fact('daily_claimed', '2026-03-10T05:30:00Z'), fact('daily_claimed', '2026-03-10T06:30:00Z')], new Set(), TZ).unlocks).toBe(true);
  });
  it('counts in a time window', () => {
    const fast = achievement({ requirement: { fact: 'trivia_correct', count: 3, within_hours: 24 } });
    const spread = [fact('trivia_correct', '2026-03-10T00:00:00Z'), fact('trivia_correct', '2026-03-10T20:00:00Z'), fact('trivia_correct', '2026-03-11T01:00:00Z')];
    expect(achievementProgress(fast, spread, new Set(), TZ)).toMatchObject({ progress: 2, unlocks: false });
    expect(achievementProgress(fast, [...spread, fact('trivia_correct', '2026-03-10T23:00:00Z')], new Set(), TZ)).toMatchObject({ progress: 3, unlocks: true });
  });
  it('prerequisites hold an achievement back until unlocked', () => {
    const both = achievement({ requirement: { fact: 'fragment_completed', count: 1 }, prerequisites: ['x'] });
    const f = [fact('fragment_completed', '2026-03-10T00:00:00Z')];
    expect(achievementProgress(both, f, new Set(), TZ)).toMatchObject({ unlocks: false, missingPrerequisites: ['x'] });
    expect(achievementProgress(both, f, new Set(['x']), TZ).unlocks).toBe(true);
    const only = achievement({ prerequisites: ['x', 'y'] });
    expect(achievementProgress(only, [], new Set(['x']), TZ)).toMatchObject({ progress: 1, target: 2, unlocks: false });
  });
  it('rewards 50–200 by rarity, and nothing outside it', () => {
    expect(achievement({ rarity: 'legendary', requirement: { fact: 'daily_claimed', count: 1 } }).reward.besitos).toBe(200);
    expect(() => achievement({ requirement: { fact: 'daily_claimed', count: 1 }, reward: { besitos: 500 } })).toThrow();
    // Neither requirement nor prerequisites: granted by the story only, never by events.
    expect(achievementProgress(achievement({}), [fact('daily_claimed', '2026-03-10T00:00:00Z')], new Set(), TZ).unlocks).toBe(false);
  });
});

describe('catalogue', () => {
  it('the sample content (one content version with the story) is valid and has premium items of 500–1,000', async () => {
    const c = catalogueOf(new ContentIndex(await loadContentFromDir()));
    expect(c.catalogue.missions.map((m) => m.type)).toEqual(expect.arrayContaining(['daily', 'weekly', 'narrative', 'special']));
    expect(c.catalogue.items.some((i) => i.price >= 500 && i.price <= 1000)).toBe(true);
    expect(new Set(c.catalogue.items.map((i) => i.category))).toEqual(new Set(['cosmetic', 'narrative', 'powerup']));
  });
  it('refuses unknown references, duplicates and prerequisite cycles, naming them', () => {
    const base = { key: 'a', title: 'T', description: 'D', rarity: 'common' };
    const bad = {
      missions: [{ key: 'm', title: 'T', description: 'D', type: 'daily', requirement: { fact: 'daily_claimed', count: 1 }, reward: { items: ['nope'] } }],
      achievements: [
        { ...base, key: 'a', prerequisites: ['b'] },
        { ...base, key: 'b', prerequisites: ['a'] },
        { ...base, key: 'c', prerequisites: ['zzz'] },
        { ...base, key: 'c', requirement: { fact: 'daily_claimed', count: 1 } },
      ],
      items: [],
    };
    try {
      parseCatalogue(bad, 'test');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidCatalogue);
      const msg = (err as Error).message;
      expect(msg).toMatch(/unknown item nope/);
      expect(msg).toMatch(/duplicate key c/);
      expect(msg).toMatch(/unknown achievement zzz/);
      expect(msg).toMatch(/prerequisite cycle/);
    }
    expect(() => parseCatalogue({ items: [{ key: 'x', name: 'X', description: 'D', category: 'powerup', rarity: 'common', price: 5, consumable: true }] })).toThrow(/consumable needs an effect/);
  });
});

describe('presentation helpers', () => {
  it('progress bar and time left', () => {
    expect(progressBar(2, 5)).toBe('▰▰▱▱▱ 2/5');
    expect(progressBar(0, 3)).toBe('▱▱▱▱▱ 0/3');
    expect(progressBar(4, 5)).toBe('▰▰▰▰▱ 4/5');
    expect(progressBar(99, 100)).toBe('▰▰▰▰▱ 99/100');
    expect(progressBar(7, 5)).toBe('▰▰▰▰▰ 5/5');
    const now = at('2026-03-10T00:00:00Z');
    expect(timeLeft(now, at('2026-03-10T03:20:00Z'))).toBe('3 h 20 min');
    expect(timeLeft(now, at('2026-03-12T05:00:00Z'))).toBe('2 d 5 h');
    expect(timeLeft(now, at('2026-03-10T00:00:30Z'))).toBe('menos de 1 min');
    expect(progressOf({ fact: 'item_used', count: 2, measure: 'sum' }, [fact('item_used', '2026-03-10T00:00:00Z', 'x', 5)], TZ)).toBe(2);
  });
});
