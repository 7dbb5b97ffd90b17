/** Calendar arithmetic in an IANA time zone, without a date library. */

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

type Parts = { y: number; m: number; d: number; h: number; min: number; s: number };

/** Intl's answer: the wall clock of a (whole-second) instant in a zone. */
function intlParts(ms: number, timeZone: string): Parts {
  const p: Record<string, string> = {};
  for (const x of formatter(timeZone).formatToParts(new Date(ms))) p[x.type] = x.value;
  return { y: +p.year!, m: +p.month!, d: +p.day!, h: +p.hour!, min: +p.minute!, s: +p.second! };
}

function intlOffset(ms: number, timeZone: string): number {
  const { y, m, d, h, min, s } = intlParts(ms, timeZone);
  return Date.UTC(y, m - 1, d, h, min, s) - ms;
}

/**
 * A zone's UTC offset per hour of UTC time (issue 18: formatToParts, ~10 µs, was ~1.3 % of the webhook's
 * CPU, asked several times per update for "now" and the day's bounds). Intl is asked at the first and
 * the last second of the hour; if they differ, the hour holds a transition, found to the second by
 * bisection. Exact as long as a zone changes its offset at most once in an hour (true of every zone).
 */
const HOUR_MS = 3_600_000;
interface HourOffset {
  before: number;
  /** The first second with `after` (Infinity: no change in this hour). */
  change: number;
  after: number;
}
const hourOffsets = new Map<string, HourOffset>();

function offsetOf(ms: number, timeZone: string): number {
  const hour = Math.floor(ms / HOUR_MS);
  const key = `${timeZone}|${hour}`;
  let o = hourOffsets.get(key);
  if (!o) {
    const start = hour * HOUR_MS;
    let lo = start;
    let hi = start + HOUR_MS - 1000;
    const before = intlOffset(lo, timeZone);
    const after = intlOffset(hi, timeZone);
    if (before !== after) {
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (intlOffset(mid, timeZone) === before) lo = mid;
        else hi = mid;
      }
    }
    o = { before, after, change: before === after ? Infinity : hi };
    if (hourOffsets.size >= 10_000) hourOffsets.clear();
    hourOffsets.set(key, o);
  }
  return ms < o.change ? o.before : o.after;
}

function parts(at: Date, timeZone: string): Parts {
  const ms = Math.floor(at.getTime() / 1000) * 1000;
  const local = new Date(ms + offsetOf(ms, timeZone));
  return { y: local.getUTCFullYear(), m: local.getUTCMonth() + 1, d: local.getUTCDate(), h: local.getUTCHours(), min: local.getUTCMinutes(), s: local.getUTCSeconds() };
}

/** For tests: the wall clock as Intl gives it, uncached. */
export function intlWallClock(at: Date, timeZone: string): Parts {
  return intlParts(Math.floor(at.getTime() / 1000) * 1000, timeZone);
}

/** For tests: the wall clock as the calendar functions see it. */
export function wallClock(at: Date, timeZone: string): Parts {
  return parts(at, timeZone);
}

/** The local calendar date (YYYY-MM-DD) of an instant in a zone. */
export function localDate(at: Date, timeZone: string): string {
  const { y, m, d } = parts(at, timeZone);
  return `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

export function addDays(date: string, days: number): string {
  const t = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

/** Offset of the zone from UTC at an instant, in milliseconds. */
function offsetAt(at: Date, timeZone: string): number {
  const ms = Math.floor(at.getTime() / 1000) * 1000;
  return offsetOf(ms, timeZone);
}

/** The instant local midnight of `date` happens in the zone (DST-safe to the hour). */
export function startOfLocalDay(date: string, timeZone: string): Date {
  const naive = Date.parse(`${date}T00:00:00Z`);
  let guess = naive - offsetAt(new Date(naive), timeZone);
  guess = naive - offsetAt(new Date(guess), timeZone);
  return new Date(guess);
}

export function startOfNextLocalDay(at: Date, timeZone: string): Date {
  return startOfLocalDay(addDays(localDate(at, timeZone), 1), timeZone);
}
