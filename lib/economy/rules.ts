/**
 * Pure rules of the anomaly detector: robust statistics over the population's earnings and the
 * decision of who stands out. No I/O; unit-tested.
 *
 * Why median and MAD: a mean and a standard deviation are dragged by the very farmer we look for
 * (one user earning 50× the rest moves both); the median and the median absolute deviation ignore
 * up to half of the population being extreme. MAD is 0 when most users earn exactly the same (every
 * one claimed the daily gift every day), so the scale has floors: the spread between the median and
 * the 90th percentile, and a share of the median.
 */

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface PopulationStats {
  n: number;
  median: number;
  /** Median absolute deviation, scaled (×1.4826) to match a standard deviation on normal data. */
  mad: number;
  p90: number;
  p99: number;
  /** The robust scale used for scores (≥ 1). */
  scale: number;
}

export function populationStats(values: number[]): PopulationStats {
  const sorted = [...values].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const deviations = sorted.map((v) => Math.abs(v - median)).sort((a, b) => a - b);
  const mad = 1.4826 * quantile(deviations, 0.5);
  const p90 = quantile(sorted, 0.9);
  const p99 = quantile(sorted, 0.99);
  // 1.2816 is the 90th percentile of a standard normal: (p90 − median)/1.2816 estimates sigma too.
  const scale = Math.max(mad, (p90 - median) / 1.2816, median * 0.25, 1);
  return { n: sorted.length, median, mad, p90, p99, scale };
}

export interface OutlierSettings {
  /** How many robust scales above the median a user must be (default 10). */
  minScore: number;
  /** And how many times the median (default 4). */
  minRatio: number;
  /** And at least this many besitos in the window (default 100): small amounts are never worth an admin's time. */
  minAmount: number;
  /** Populations smaller than this are not compared (default 20). */
  minPopulation: number;
}

export const defaultOutlierSettings: OutlierSettings = { minScore: 10, minRatio: 4, minAmount: 100, minPopulation: 20 };

export interface Outlier {
  userId: number;
  amount: number;
  score: number;
  stats: PopulationStats;
}

/** The users whose amount stands out of the population's, most extreme first. */
export function findOutliers(amounts: Map<number, number>, s: OutlierSettings = defaultOutlierSettings): Outlier[] {
  if (amounts.size < s.minPopulation) return [];
  const stats = populationStats([...amounts.values()]);
  const out: Outlier[] = [];
  for (const [userId, amount] of amounts) {
    const score = (amount - stats.median) / stats.scale;
    if (score >= s.minScore && amount >= s.minRatio * Math.max(stats.median, 1) && amount >= s.minAmount) {
      out.push({ userId, amount, score: Math.round(score * 10) / 10, stats });
    }
  }
  return out.sort((a, b) => b.score - a.score);
}

/** A cap as the economy policy states it (lib/besitos/policy.ts): most grants and/or besitos in a period. */
export interface PeriodCap {
  grants?: number;
  besitos?: number;
}
/** Caps per source family, per local day and ISO week. */
export type CapTable = Record<string, { day?: PeriodCap; week?: PeriodCap }>;

export interface PeriodTotal {
  /**
   * Whose caps the ledger counted these grants in (lib/besitos/ledger.ts capSubject): the person (the
   * abuse pseudonym on the account, users.person), or `user:<id>` for an account without one.
   */
  subject: string;
  /** The source family (`reaction` for `reaction:post:42`): caps count per family. */
  source: string;
  period: 'day' | 'week';
  /** The local date of the day, or of the Monday the week starts. */
  key: string;
  grants: number;
  besitos: number;
}

export interface CapBreach extends PeriodTotal {
  cap: PeriodCap;
}

/** Periods in which a person got more from a source than its cap allows: impossible if every grant went through the policy. */
export function capBreaches(totals: PeriodTotal[], caps: CapTable): CapBreach[] {
  return totals.flatMap((t) => {
    const cap = caps[t.source]?.[t.period];
    if (!cap) return [];
    const over = (cap.grants !== undefined && t.grants > cap.grants) || (cap.besitos !== undefined && t.besitos > cap.besitos);
    return over ? [{ ...t, cap }] : [];
  });
}

/** One grant of a capped source, as the breach attribution reads it (in ledger order). */
export interface SubjectGrant {
  userId: number;
  subject: string;
  source: string;
  amount: number;
  /** Local day and the Monday of its ISO week, YYYY-MM-DD. */
  day: string;
  week: string;
}

export interface AccountGrants {
  userId: number;
  grants: number;
  besitos: number;
}

/** A breach seen from one account of the person: what of it went past the cap on this account. */
export interface AccountBreach extends CapBreach {
  userId: number;
  /** The grants of this account that came after the cap was full (in ledger order). */
  over: { grants: number; besitos: number };
  /** Every account of the person with grants in the period (more than one: accounts together). */
  accounts: AccountGrants[];
}

/**
 * Which accounts of a person went past a breached cap: the period's grants in ledger order, counted
 * as the ledger counts them (per person); those while the count was within the cap were allowed, the
 * rest are the breach. An account whose grants were all allowed is not flagged, even if another
 * account of the same person later passed the cap. `grants` in ledger order (created_at, id).
 */
export function attributeBreaches(breaches: CapBreach[], grants: SubjectGrant[]): AccountBreach[] {
  const out: AccountBreach[] = [];
  for (const b of breaches) {
    const inPeriod = grants.filter((g) => g.subject === b.subject && g.source === b.source && (b.period === 'day' ? g.day : g.week) === b.key);
    const accounts = new Map<number, AccountGrants>();
    const over = new Map<number, { grants: number; besitos: number }>();
    let n = 0;
    let sum = 0;
    for (const g of inPeriod) {
      n++;
      sum += g.amount;
      const a = accounts.get(g.userId) ?? { userId: g.userId, grants: 0, besitos: 0 };
      a.grants++;
      a.besitos += g.amount;
      accounts.set(g.userId, a);
      if ((b.cap.grants !== undefined && n > b.cap.grants) || (b.cap.besitos !== undefined && sum > b.cap.besitos)) {
        const o = over.get(g.userId) ?? { grants: 0, besitos: 0 };
        o.grants++;
        o.besitos += g.amount;
        over.set(g.userId, o);
      }
    }
    for (const [userId, o] of over) out.push({ ...b, userId, over: o, accounts: [...accounts.values()] });
  }
  return out;
}
