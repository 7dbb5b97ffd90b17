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
/** The last second formatted per zone: an update asks for "today" several times (formatToParts is ~10 µs). */
const lastParts = new Map<string, { second: number; parts: Parts }>();

function parts(at: Date, timeZone: string): Parts {
  const second = Math.floor(at.getTime() / 1000);
  const last = lastParts.get(timeZone);
  if (last && last.second === second) return last.parts;
  const p = Object.fromEntries(formatter(timeZone).formatToParts(at).map((x) => [x.type, x.value]));
  const result = { y: +p.year!, m: +p.month!, d: +p.day!, h: +p.hour!, min: +p.minute!, s: +p.second! };
  lastParts.set(timeZone, { second, parts: result });
  return result;
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
  const { y, m, d, h, min, s } = parts(at, timeZone);
  return Date.UTC(y, m - 1, d, h, min, s) - Math.floor(at.getTime() / 1000) * 1000;
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
