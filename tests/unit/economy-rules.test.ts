import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attributeBreaches, capBreaches, findOutliers, populationStats, quantile } from '../../lib/economy/rules.js';
import { rng } from '../../lib/economy/simulate.js';
import { dashboardSvg } from '../../lib/economy/chart.js';
import { economyCaps, parseLocalMoment } from '../../lib/economy/index.js';

describe('economy rules (pure)', () => {
  it('quantiles interpolate; stats of an empty population are zeros with a scale of 1', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([], 0.5)).toBe(0);
    expect(populationStats([])).toMatchObject({ n: 0, median: 0, scale: 1 });
  });

  it('MAD of 0 (everyone earned the same) does not make every small difference an outlier', () => {
    const amounts = new Map<number, number>(Array.from({ length: 500 }, (_, i) => [i + 1, 70]));
    amounts.set(9001, 90); // a bit more than everybody: not an anomaly
    expect(populationStats([...amounts.values()]).mad).toBe(0);
    expect(findOutliers(amounts)).toEqual([]);
    amounts.set(9002, 2_000); // 28× everyone: an anomaly
    expect(findOutliers(amounts).map((o) => o.userId)).toEqual([9002]);
  });

  it('a planted farmer among 1,000 heterogeneous users is the only outlier (100 seeds)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const r = rng(seed);
      const amounts = new Map<number, number>();
      for (let u = 1; u <= 1_000; u++) {
        const activity = 0.15 + 0.8 * r() ** 0.6;
        let total = 0;
        for (let d = 0; d < 7; d++) if (r() < activity) total += 10 + 5 * Math.floor(r() * 4) + (r() < 0.3 ? 20 : 0) + (r() < 0.3 ? Math.floor(r() * 16) : 0);
        amounts.set(u, total);
      }
      amounts.set(0, 7 * 300);
      expect(findOutliers(amounts).map((o) => o.userId)).toEqual([0]);
    }
  });

  it('small populations and small amounts are never flagged', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 300 }), (xs) => {
        expect(findOutliers(new Map(xs.map((x, i) => [i, x])))).toEqual([]);
      }),
    );
    expect(findOutliers(new Map(Array.from({ length: 19 }, (_, i) => [i, i === 0 ? 10_000 : 10])))).toEqual([]);
  });

  it('cap breaches: more grants or more besitos in a day or week than the cap; sources without a cap are not checked', () => {
    const t = (n: number, source: string, period: 'day' | 'week', grants: number, besitos: number) => ({ subject: `p${n}`, source, period, key: '2026-11-20', grants, besitos });
    const totals = [
      t(1, 'daily', 'day', 1, 10),
      t(2, 'daily', 'day', 2, 20),
      t(3, 'reaction', 'day', 3, 6),
      t(4, 'reaction', 'day', 3, 9),
      t(5, 'story', 'day', 50, 500),
      t(6, 'mission', 'week', 20, 601),
      t(7, 'mission', 'day', 20, 200),
    ];
    const caps = { daily: { day: { grants: 1 } }, reaction: { day: { besitos: 6 } }, mission: { day: { besitos: 200 }, week: { besitos: 600 } } };
    expect(capBreaches(totals, caps).map((b) => b.subject)).toEqual(['p2', 'p4', 'p6']);
  });

  it('a breach is attributed to the accounts whose grants came after the person’s cap was full', () => {
    const g = (userId: number, subject: string, day: string, amount = 2) => ({ userId, subject, source: 'reaction', amount, day, week: '2026-11-16' });
    const grants = [
      g(1, 'P', '2026-11-20'), g(1, 'P', '2026-11-20'), g(2, 'P', '2026-11-20'), g(2, 'P', '2026-11-20'), g(2, 'P', '2026-11-20'), // P: 5 > 3
      g(3, 'Q', '2026-11-20'), g(4, 'Q', '2026-11-20'), g(3, 'Q', '2026-11-21'), // Q: 2 on the 20th, fine
      g(5, 'R', '2026-11-20'), g(5, 'R', '2026-11-20'), g(5, 'R', '2026-11-20'), g(6, 'R', '2026-11-20'), // R: the 4th is account 6's
    ];
    const cap = { grants: 3 };
    const totals = [
      { subject: 'P', source: 'reaction', period: 'day' as const, key: '2026-11-20', grants: 5, besitos: 10 },
      { subject: 'Q', source: 'reaction', period: 'day' as const, key: '2026-11-20', grants: 2, besitos: 4 },
      { subject: 'R', source: 'reaction', period: 'day' as const, key: '2026-11-20', grants: 4, besitos: 8 },
    ];
    const out = attributeBreaches(capBreaches(totals, { reaction: { day: cap } }), grants);
    expect(out.map((b) => [b.subject, b.userId, b.over.grants, b.over.besitos])).toEqual([
      ['P', 2, 2, 4],
      ['R', 6, 1, 2],
    ]);
    expect(out[0]!.accounts).toEqual([
      { userId: 1, grants: 2, besitos: 4 },
      { userId: 2, grants: 3, besitos: 6 },
    ]);
    // A besitos cap: the grant that passes it is the first one over, whatever its size.
    const b = attributeBreaches(
      capBreaches([{ subject: 'S', source: 'reaction', period: 'day', key: '2026-11-20', grants: 3, besitos: 7 }], { reaction: { day: { besitos: 6 } } }),
      [g(7, 'S', '2026-11-20', 3), g(7, 'S', '2026-11-20', 3), g(8, 'S', '2026-11-20', 1)],
    );
    expect(b.map((x) => [x.userId, x.over])).toEqual([[8, { grants: 1, besitos: 1 }]]);
  });

  it('the caps checked are the economy policy’s', () => {
    const caps = economyCaps();
    expect(caps.daily).toEqual({ day: { grants: 1 }, week: undefined });
    expect(caps.trivia?.day?.grants).toBeGreaterThan(0);
  });

  it('local moments: a day, a day as an end (the whole day included), a time; nonsense is null', () => {
    const tz = 'America/Mexico_City';
    expect(parseLocalMoment('2026-11-20', tz)!.toISOString()).toBe('2026-11-20T06:00:00.000Z');
    expect(parseLocalMoment('2026-11-20', tz, true)!.toISOString()).toBe('2026-11-21T06:00:00.000Z');
    expect(parseLocalMoment('2026-11-20T13:30', tz)!.toISOString()).toBe('2026-11-20T19:30:00.000Z');
    for (const bad of ['ayer', '2026-13-01', '2026-02-30', '2026-11-20T25:00', '']) expect(parseLocalMoment(bad, tz)).toBeNull();
  });

  it('the chart SVG escapes source names and draws one bar group per day', () => {
    const days = ['2026-11-01', '2026-11-02'];
    const svg = dashboardSvg({
      generatedAt: '',
      timeZone: 'UTC',
      days,
      supply: { now: 30, holders: 2, endOfDay: [10, 30] },
      earned: [{ source: '<script>', perDay: [10, 20], total: 30 }],
      spent: [],
      transferred: { source: 'gift', perDay: [0, 0], total: 0 },
      reversed: { source: 'reversal', perDay: [0, 0], total: 0 },
      totals: { earned: 30, spent: 0, net: 30 },
      topEarners: [],
      flags: { open: 0, latest: [] },
    });
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;');
    expect(svg.match(/<rect /g)!.length).toBeGreaterThanOrEqual(3);
  });
});
