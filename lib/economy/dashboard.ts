import type { Queryable } from '../db/client.js';
import { addDays, localDate, startOfLocalDay } from '../time/zone.js';
import { findUsersByIds } from '../users/lookup.js';
import { openFlags, type FlagRow } from './repository.js';
import { userLabel } from './texts.js';

/** One series per source (earned) or sink (spent) family (`reaction:post:42` counts as `reaction`), one value per day of the period. */
export interface Series {
  source: string;
  perDay: number[];
  total: number;
}

export interface TopEarner {
  userId: number;
  /** How admins see the user (@username or first name, and the internal id), plain text. */
  label: string;
  besitos: number;
  flagged: boolean;
}

/** What /economia shows and the admin panel's JSON holds: one period, whole local days. */
export interface EconomyDashboard {
  generatedAt: string;
  timeZone: string;
  /** Local dates, oldest first; the last one is `to` (today by default, so far). */
  days: string[];
  supply: {
    /** Besitos in users' balances now (= Σ transactions). */
    now: number;
    /** Accounts holding at least one besito. */
    holders: number;
    /** In circulation at the end of each day. */
    endOfDay: number[];
  };
  /** Grants per source (what the economy creates). */
  earned: Series[];
  /** Spends per sink (what leaves circulation), positive numbers. */
  spent: Series[];
  /** Besitos that moved between users (gifts): they create and destroy nothing. */
  transferred: Series;
  /** Admins' rollbacks and undos: positive = taken back. */
  reversed: Series;
  totals: { earned: number; spent: number; net: number };
  topEarners: TopEarner[];
  flags: { open: number; latest: (Pick<FlagRow, 'id' | 'userId' | 'kind' | 'source' | 'windowKey' | 'amount' | 'score'> & { label: string; createdAt: string })[] };
}

export interface DashboardOptions {
  now: Date;
  timeZone: string;
  /** Length of the period in days, ending today (default 30). */
  days?: number;
  top?: number;
}

function series(days: string[], rows: { day: string; source: string; amount: number }[]): Series[] {
  const by = new Map<string, Series>();
  const index = new Map(days.map((d, i) => [d, i]));
  for (const r of rows) {
    const i = index.get(r.day);
    if (i === undefined) continue;
    let s = by.get(r.source);
    if (!s) by.set(r.source, (s = { source: r.source, perDay: days.map(() => 0), total: 0 }));
    s.perDay[i]! += r.amount;
    s.total += r.amount;
  }
  return [...by.values()].sort((a, b) => b.total - a.total || a.source.localeCompare(b.source));
}

export async function economyDashboard(db: Queryable, o: DashboardOptions): Promise<EconomyDashboard> {
  const n = Math.min(Math.max(o.days ?? 30, 1), 366);
  const today = localDate(o.now, o.timeZone);
  const days = Array.from({ length: n }, (_, i) => addDays(today, i - n + 1));
  const start = startOfLocalDay(days[0]!, o.timeZone);
  const end = startOfLocalDay(addDays(today, 1), o.timeZone);

  const [sums, [supply], [after], top, flags] = await Promise.all([
    db<{ day: string; type: string; source: string; amount: string; reverses_grant: boolean }[]>`
      SELECT to_char(t.created_at AT TIME ZONE ${o.timeZone}, 'YYYY-MM-DD') AS day, t.type, split_part(t.source, ':', 1) AS source,
             sum(t.amount)::bigint AS amount
        FROM transactions t
       WHERE t.created_at >= ${start} AND t.created_at < ${end}
       GROUP BY 1, 2, 3`,
    db<{ now: string; holders: number }[]>`SELECT COALESCE(sum(besitos), 0)::bigint AS now, count(*) FILTER (WHERE besitos > 0)::int AS holders FROM user_balances`,
    db<{ sum: string }[]>`SELECT COALESCE(sum(amount), 0)::bigint AS sum FROM transactions WHERE created_at >= ${end}`,
    db<{ user_id: string; besitos: string }[]>`
      SELECT user_id, sum(amount)::bigint AS besitos FROM transactions
       WHERE type = 'grant' AND created_at >= ${start} AND created_at < ${end}
       GROUP BY user_id ORDER BY besitos DESC, user_id LIMIT ${o.top ?? 10}`,
    openFlags(db, 10),
  ]);

  const rows = sums.map((r) => ({ day: r.day, type: r.type, source: r.source, amount: Number(r.amount) }));
  const earned = series(days, rows.filter((r) => r.type === 'grant'));
  const spent = series(days, rows.filter((r) => r.type === 'spend').map((r) => ({ ...r, amount: -r.amount })));
  const transferred = series(days, rows.filter((r) => r.type === 'transfer_in').map((r) => ({ ...r, source: 'gift' })))[0] ?? { source: 'gift', perDay: days.map(() => 0), total: 0 };
  const reversedAll = series(days, rows.filter((r) => r.type === 'reversal').map((r) => ({ ...r, source: 'reversal', amount: -r.amount })))[0];
  const reversed = reversedAll ?? { source: 'reversal', perDay: days.map(() => 0), total: 0 };

  // Supply at the end of each day, backwards from now: balances equal the ledger's sum (the invariant).
  const supplyNow = Number(supply?.now ?? 0);
  const net = days.map((d) => rows.filter((r) => r.day === d).reduce((s, r) => s + r.amount, 0));
  const endOfDay = days.map(() => 0);
  let level = supplyNow - Number(after?.sum ?? 0);
  for (let i = days.length - 1; i >= 0; i--) {
    endOfDay[i] = level;
    level -= net[i]!;
  }

  const flagged = new Set(flags.flags.map((f) => f.userId));
  const ids = [...top.map((t) => Number(t.user_id)), ...flags.flags.map((f) => f.userId)];
  const users = await findUsersByIds(db, ids);
  const totalEarned = earned.reduce((s, x) => s + x.total, 0);
  const totalSpent = spent.reduce((s, x) => s + x.total, 0);
  return {
    generatedAt: o.now.toISOString(),
    timeZone: o.timeZone,
    days,
    supply: { now: supplyNow, holders: supply?.holders ?? 0, endOfDay },
    earned,
    spent,
    transferred,
    reversed,
    totals: { earned: totalEarned, spent: totalSpent, net: totalEarned - totalSpent - reversed.total },
    topEarners: top.map((t) => ({
      userId: Number(t.user_id),
      label: userLabel(users.get(Number(t.user_id)), Number(t.user_id)),
      besitos: Number(t.besitos),
      flagged: flagged.has(Number(t.user_id)),
    })),
    flags: {
      open: flags.total,
      latest: flags.flags.map((f) => ({
        id: f.id,
        userId: f.userId,
        label: userLabel(users.get(f.userId), f.userId),
        kind: f.kind,
        source: f.source,
        windowKey: f.windowKey,
        amount: f.amount,
        score: f.score,
        createdAt: f.createdAt.toISOString(),
      })),
    },
  };
}
