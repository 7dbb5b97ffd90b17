/**
 * "More grants than a cap allows", for every capped source of the economy policy (lib/besitos/policy.ts):
 * for each source, period (day, ISO week) and unit (grants, besitos) it caps, one user planted just over
 * the cap and one exactly at it, written straight into the ledger as a bug or a direct write would (the
 * ledger itself refuses such grants). The detector flags every user over and none at the cap; a week
 * cap counts the whole local week even when the window starts inside it; a breach is one flag per week.
 */
import { describe, expect, it } from 'vitest';
import type { Sql } from '../../lib/db/client.js';
import { cappedSources, economyPolicy, type SourceCaps } from '../../lib/besitos/policy.js';
import { detectAnomalies, runAnomalyDetection } from '../../lib/economy/anomalies.js';
import { startOfLocalDay } from '../../lib/time/zone.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';

const db = useTestDb(5);
const TZ = 'America/Mexico_City';
// The week of Monday 23 to Sunday 29 November 2026, local; detection on Sunday at 23:00 local.
const WEEK = ['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-26', '2026-11-27', '2026-11-28', '2026-11-29'];
const sundayNight = new Date('2026-11-30T05:00:00Z');
const noonOf = (day: string) => new Date(startOfLocalDay(day, TZ).getTime() + 12 * 3_600_000);

type Unit = 'grants' | 'besitos';
type Grant = { day: string; amount: number };

function amountRange(source: string): { min: number; max: number } {
  const a = economyPolicy.sources[source]!.amount;
  if (a === undefined) return { min: 1, max: 1_000 };
  return typeof a === 'number' ? { min: a, max: a } : a;
}

/** Amounts of a source that add up to at least `total` (exactly, when its amounts allow), biggest first. */
function amountsFor(source: string, total: number): number[] {
  const { min, max } = amountRange(source);
  const out: number[] = [];
  let left = total;
  while (left > 0) {
    const a = Math.max(min, Math.min(max, left));
    out.push(a);
    left -= a;
  }
  // A last piece below the minimum was rounded up; take the difference back from the one before if it can.
  if (left < 0 && out.length > 1 && out[out.length - 2]! + left >= min) {
    out[out.length - 2]! += left;
  }
  return out;
}

/**
 * Grants that reach `limit` of one cap (or pass it by the least the source's amounts allow), spread over
 * the week's days without passing the day caps when the cap is a week's: only the cap under test is passed.
 */
function plan(source: string, caps: SourceCaps, period: 'day' | 'week', unit: Unit, over: boolean): Grant[] {
  const limit = caps[period]![unit]!;
  const amounts = unit === 'grants' ? Array<number>(limit + (over ? 1 : 0)).fill(amountRange(source).min) : amountsFor(source, limit + (over ? 1 : 0));
  const days = period === 'day' ? [WEEK[2]!] : WEEK;
  const grants: Grant[] = [];
  let d = 0;
  let used = { grants: 0, besitos: 0 };
  for (const amount of amounts) {
    const fits = () => (caps.day?.grants ?? Infinity) >= used.grants + 1 && (caps.day?.besitos ?? Infinity) >= used.besitos + amount;
    while (period === 'week' && !fits()) {
      d++;
      used = { grants: 0, besitos: 0 };
      if (d >= days.length) throw new Error(`${source}: the week cap cannot be reached within the day caps`);
    }
    grants.push({ day: days[d]!, amount });
    used.grants++;
    used.besitos += amount;
  }
  return grants;
}

/** Writes grants into the ledger as a bug would (no cap counter, no action), keeping balance = Σ transactions. */
async function plant(q: Sql, userId: number, source: string, grants: Grant[]): Promise<void> {
  const rows = grants.map((g, i) => ({ amount: g.amount, at: noonOf(g.day).toISOString(), key: `plant:${userId}:${source}:${i}` }));
  await q.begin(async (tx) => {
    const [b] = await tx<{ besitos: number }[]>`SELECT besitos FROM user_balances WHERE user_id = ${userId} FOR UPDATE`;
    await tx`
      INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key, created_at)
      SELECT ${userId}, x.amount, 'grant', ${source}, ${b!.besitos} + sum(x.amount) OVER (ORDER BY x.at, x.key), x.key, x.at
        FROM jsonb_to_recordset(${tx.json(rows as never)}) AS x(amount bigint, at timestamptz, key text)`;
    const total = grants.reduce((s, g) => s + g.amount, 0);
    await tx`UPDATE user_balances SET besitos = besitos + ${total}, lifetime_besitos = lifetime_besitos + ${total} WHERE user_id = ${userId}`;
  });
}

interface Planted {
  userId: number;
  source: string;
  period: 'day' | 'week';
  unit: Unit;
  over: boolean;
}

const planted: Planted[] = [];
for (const [source, caps] of Object.entries(cappedSources()))
  for (const period of ['day', 'week'] as const)
    for (const unit of ['grants', 'besitos'] as const) {
      if (caps[period]?.[unit] === undefined) continue;
      for (const over of [true, false]) {
        const userId = await userWithBesitos(db);
        await plant(db, userId, source, plan(source, caps, period, unit, over));
        planted.push({ userId, source, period, unit, over });
      }
    }

const overCap = async (now: Date, windowDays?: number) =>
  (await detectAnomalies(db, { now, timeZone: TZ, windowDays })).flags.filter((f) => f.kind === 'over_cap');

describe('over-cap anomalies for every capped source of the policy', () => {
  it('plants a user over and one at each cap the policy has (day and week, grants and besitos)', async () => {
    const caps = cappedSources();
    expect(Object.keys(caps).sort()).toEqual(['achievement', 'daily', 'mission', 'reaction', 'referral', 'story', 'trivia']);
    // Every week cap of the policy is in the plan, not just the day caps.
    expect(planted.filter((p) => p.period === 'week' && p.over).map((p) => `${p.source}:${p.unit}`).sort()).toEqual(['mission:besitos', 'referral:grants']);
    expect(await ledgerMismatches(db, planted.map((p) => p.userId))).toEqual([]);
  });

  it('flags every planted user over a cap, for the period passed, and nobody at a cap', async () => {
    const flags = await overCap(sundayNight);
    const flagged = new Map(flags.map((f) => [f.userId, f]));
    for (const p of planted) {
      const f = flagged.get(p.userId);
      const what = `${p.source} ${p.period} ${p.unit} ${p.over ? 'over' : 'at'}`;
      if (!p.over) {
        expect(f, what).toBeUndefined();
        continue;
      }
      expect(f, what).toMatchObject({ source: p.source, windowKey: 'semana:2026-11-23' });
      const periods = f!.detail.periods as { period: string; key: string; grants: number; besitos: number }[];
      const hit = periods.find((x) => x.period === p.period);
      expect(hit, what).toBeDefined();
      expect(hit![p.unit], what).toBeGreaterThan(cappedSources()[p.source]![p.period]![p.unit]!);
      expect(hit!.key, what).toBe(p.period === 'week' ? '2026-11-23' : '2026-11-25');
    }
    expect(flags).toHaveLength(planted.filter((p) => p.over).length);
  });

  it('a week cap counts the whole local week even when the window starts inside it', async () => {
    const weekOver = planted.filter((p) => p.period === 'week' && p.over);
    // A one-day window ending Sunday night sees only Sunday's grants: the week's still count.
    const flags = await overCap(sundayNight, 1);
    for (const p of weekOver) expect(flags.some((f) => f.userId === p.userId && f.source === p.source), `${p.source} ${p.unit}`).toBe(true);
  });

  it('a breach is one flag per user, source and week: the hourly and daily runs refine it, none is new', async () => {
    const first = await runAnomalyDetection(db, { now: new Date('2026-11-29T05:00:00Z'), timeZone: TZ }); // Saturday 23:00
    expect(first.created.filter((f) => f.kind === 'over_cap').length).toBeGreaterThan(0);
    const again = await runAnomalyDetection(db, { now: sundayNight, timeZone: TZ });
    expect(again.created.filter((f) => f.kind === 'over_cap')).toEqual([]);
    const [n] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM economy_flags WHERE kind = 'over_cap'`;
    expect(n!.n).toBe(planted.filter((p) => p.over).length);
  });

  it('the next week starts clean: a window inside it does not count last week\'s grants', async () => {
    expect(await overCap(new Date('2026-12-02T05:00:00Z'), 1)).toEqual([]); // Tuesday 1 December, 23:00
  });
});
