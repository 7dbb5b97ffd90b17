import { TelegramError } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../lazy.js';
import type { Queryable } from '../db/client.js';
import type { Logger } from '../log.js';
import { schedule, type JobHandler } from '../scheduler/index.js';
import { capPeriods } from '../besitos/ledger.js';
import { localDate, startOfLocalDay } from '../time/zone.js';
import { findUsersByIds } from '../users/lookup.js';
import { economyCaps } from './policy.js';
import { earningsInWindow, grantPeriods, subjectGrants, lockFlags, unmatchedGrants, upsertFlags, type FlagInput, type FlagRow } from './repository.js';
import { attributeBreaches, capBreaches, defaultOutlierSettings, findOutliers, type CapTable, type OutlierSettings } from './rules.js';
import { economyTexts, userLabel } from './texts.js';

export const DAY_MS = 86_400_000;

export interface DetectOptions {
  now: Date;
  timeZone: string;
  /** Length of the sliding window (default 7 days, ending now). */
  windowDays?: number;
  caps?: CapTable;
  outliers?: OutlierSettings;
}

export interface Detection {
  windowKey: string;
  windowStart: Date;
  windowEnd: Date;
  flags: FlagInput[];
  /** Users compared overall, for the log line. */
  population: number;
}

/**
 * Compares every user's earnings in the window with the population's, per source and overall, and
 * finds the impossible: more from a source in a day or a week than its cap allows (every capped source of
 * lib/besitos/policy.ts, counted per person like the ledger), grants no action explains.
 * Reads only; the window key is the local date the window ends on (see runAnomalyDetection for how
 * later runs refine a flag instead of raising it again).
 */
export async function detectAnomalies(db: Queryable, o: DetectOptions): Promise<Detection> {
  const windowDays = o.windowDays ?? 7;
  const windowEnd = o.now;
  const windowStart = new Date(o.now.getTime() - windowDays * DAY_MS);
  const windowKey = `${localDate(o.now, o.timeZone)}/${windowDays}d`;
  const caps = o.caps ?? economyCaps();
  const base = { windowKey, windowStart, windowEnd };
  const flags: FlagInput[] = [];

  const earnings = await earningsInWindow(db, windowStart, windowEnd);
  const bySource = new Map<string, Map<number, number>>();
  const overall = new Map<number, number>();
  for (const e of earnings) {
    let m = bySource.get(e.source);
    if (!m) bySource.set(e.source, (m = new Map()));
    m.set(e.userId, (m.get(e.userId) ?? 0) + e.besitos);
    overall.set(e.userId, (overall.get(e.userId) ?? 0) + e.besitos);
  }
  const settings = o.outliers ?? defaultOutlierSettings;
  const perDay = (n: number) => Math.round((n / windowDays) * 10) / 10;
  for (const [source, amounts] of [...bySource, ['*', overall] as const]) {
    for (const out of findOutliers(amounts, settings)) {
      flags.push({
        ...base,
        userId: out.userId,
        kind: 'outlier',
        source,
        amount: out.amount,
        score: out.score,
        detail: {
          per_day: perDay(out.amount),
          median: out.stats.median,
          median_per_day: perDay(out.stats.median),
          p99: Math.round(out.stats.p99),
          population: out.stats.n,
        },
      });
    }
  }

  // Caps are read from the Monday (local) of the week the window starts in: a week cap counts the whole
  // week as the ledger did, not only the part inside the window. Caps count per person (the ledger's cap
  // subject), so two accounts of one person are summed; the accounts flagged are those whose grants came
  // after the person's cap was full. A breach is one flag per account, source and week (window key
  // `semana:<monday>`), whichever hourly run finds it: admins hear of it once.
  const capsFrom = startOfLocalDay(capPeriods(windowStart, o.timeZone).week, o.timeZone);
  const families = Object.keys(caps);
  const found = capBreaches(await grantPeriods(db, capsFrom, windowEnd, o.timeZone, families), caps);
  const grants = found.length === 0 ? [] : await subjectGrants(db, capsFrom, windowEnd, o.timeZone, [...new Set(found.map((b) => b.subject))], [...new Set(found.map((b) => b.source))]);
  const breaches = new Map<string, FlagInput>();
  for (const b of attributeBreaches(found, grants)) {
    const week = b.period === 'week' ? b.key : capPeriods(startOfLocalDay(b.key, o.timeZone), o.timeZone).week;
    const k = `${b.userId}:${b.source}:${week}`;
    const f = breaches.get(k);
    const period = {
      period: b.period,
      key: b.key,
      grants: b.grants,
      besitos: b.besitos,
      cap: b.cap,
      over: b.over,
      // Only when the person used more than one account: which ones, with what (the admin's evidence).
      ...(b.accounts.length > 1 ? { accounts: b.accounts.map((a) => ({ user_id: a.userId, grants: a.grants, besitos: a.besitos })) } : {}),
    };
    if (f) {
      f.amount = Math.max(f.amount, b.besitos);
      (f.detail.periods as unknown[]).push(period);
    } else {
      breaches.set(k, {
        ...base,
        windowKey: `semana:${week}`,
        windowStart: capsFrom,
        userId: b.userId,
        kind: 'over_cap',
        source: b.source,
        amount: b.besitos,
        score: null,
        detail: { periods: [period] },
      });
    }
  }
  flags.push(...breaches.values());

  for (const u of await unmatchedGrants(db, windowStart, windowEnd)) {
    flags.push({ ...base, userId: u.userId, kind: 'unmatched', source: u.source, amount: u.besitos, score: null, detail: { grants: u.grants, transaction_ids: u.transactionIds } });
  }
  return { ...base, flags, population: overall.size };
}

export interface AnomalyRun extends Detection {
  created: FlagRow[];
  updated: number;
}

/**
 * Detects and records: idempotent per user, kind, source and window, and an open flag whose window
 * overlaps is refreshed rather than raised again (repository upsertFlags), so a user is flagged once
 * for what the sliding window keeps seeing.
 */
export async function runAnomalyDetection(db: Queryable, o: DetectOptions): Promise<AnomalyRun> {
  const d = await detectAnomalies(db, o);
  await lockFlags(db);
  const { created, updated } = await upsertFlags(db, d.flags);
  return { ...d, created, updated };
}

/** Tells the admins about new flags; a blocked bot or an unknown chat is skipped, anything else retried. */
export async function notifyAdmins(
  db: Queryable,
  telegram: { sendMessage(chatId: number, text: string, extra?: object): Promise<unknown> } | undefined,
  log: Logger,
  adminTelegramIds: number[],
  created: FlagRow[],
): Promise<number> {
  if (!telegram || created.length === 0 || adminTelegramIds.length === 0) return 0;
  const users = await findUsersByIds(db, created.map((f) => f.userId));
  const text = economyTexts.newFlagsNotice(created, (id) => userLabel(users.get(id), id));
  let sent = 0;
  for (const chatId of adminTelegramIds) {
    try {
      await telegram.sendMessage(chatId, text, { parse_mode: 'HTML' });
      sent++;
    } catch (err) {
      if (err instanceof TelegramError && (err.code === 403 || err.code === 400)) log.info({ msg: 'economy flag notice not delivered', chat_id: chatId, error: err.description });
      else throw err;
    }
  }
  return sent;
}

const payload = lazy(() => z.object({ adminTelegramIds: z.array(z.number().int().positive()).max(100) }));

/**
 * Hourly (lib/scheduler): detection, flags and the admins' notice commit with the job; a notice that
 * fails with a transient error rolls the new flags back and the job runs again, so admins hear of
 * each flag once. No automatic punishment: admins decide (/economia, /revertir).
 */
export const anomalyJob: JobHandler<z.output<typeof payload>> = {
  kind: 'economy.anomalies',
  payload,
  async run(tx, p, ctx) {
    const r = await runAnomalyDetection(tx, { now: ctx.now, timeZone: ctx.timeZone });
    const notified = await notifyAdmins(tx, ctx.telegram, ctx.log, p.adminTelegramIds, r.created);
    ctx.log.info({ msg: 'economy anomalies', window: r.windowKey, population: r.population, flags: r.flags.length, created: r.created.length, notified, late_ms: ctx.lateMs });
  },
  maxAttempts: 5,
};

const HOUR_MS = 3_600_000;

/** Schedules this hour's detection (one INSERT, a no-op after the first; remembered per hour). */
export function anomalyScheduler(adminTelegramIds: number[]) {
  let done: number | null = null;
  return async (db: Queryable, now: Date): Promise<void> => {
    const hour = Math.floor(now.getTime() / HOUR_MS);
    if (hour === done) return;
    const dueAt = new Date(hour * HOUR_MS);
    await schedule(db, { kind: anomalyJob.kind, key: `${anomalyJob.kind}:${dueAt.toISOString().slice(0, 13)}`, dueAt, payload: { adminTelegramIds } });
    done = hour;
  };
}
