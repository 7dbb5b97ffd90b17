/**
 * The one way the bot (and the local chat page, which loads this file as a browser module through
 * dev/dev-api.ts) shows dates and times: Spanish, 24-hour, in the bot's zone (BOT_TIMEZONE), with
 * "hoy" / "mañana" / "ayer" where natural and the zone named where it matters (a deadline or a
 * time to come back). Self-contained on purpose: no imports, so the page can load it as it is.
 */

// Building an Intl.DateTimeFormat costs ~70 µs, formatting ~1 µs: one per (options, zone).
const cache = new Map<string, Intl.DateTimeFormat>();
function fmt(key: string, tz: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const k = `${key}|${tz}`;
  let f = cache.get(k);
  if (!f) cache.set(k, (f = new Intl.DateTimeFormat('es-MX', { ...options, timeZone: tz })));
  return f;
}

/** Names people recognise for the zones our readers live in; other zones get Intl's generic name. */
const ZONE_NAMES: Record<string, string> = {
  'America/Mexico_City': 'hora del centro de México',
  'America/Monterrey': 'hora del centro de México',
  'America/Merida': 'hora del centro de México',
  'America/Cancun': 'hora de Cancún',
  'America/Chihuahua': 'hora de Chihuahua',
  'America/Hermosillo': 'hora de Sonora',
  'America/Mazatlan': 'hora del Pacífico mexicano',
  'America/Tijuana': 'hora de Tijuana',
  'America/Bogota': 'hora de Colombia',
  'America/Lima': 'hora de Perú',
  'America/Santiago': 'hora de Chile',
  'America/Argentina/Buenos_Aires': 'hora de Argentina',
  'America/Caracas': 'hora de Venezuela',
  'America/Guatemala': 'hora de Guatemala',
  'America/New_York': 'hora de Nueva York',
  'America/Los_Angeles': 'hora de Los Ángeles',
  'Europe/Madrid': 'hora de España peninsular',
  UTC: 'hora UTC',
  'Etc/UTC': 'hora UTC',
};

/** "hora del centro de México" for America/Mexico_City; Intl's Spanish name for other zones. */
export function zoneLabel(tz: string): string {
  const known = ZONE_NAMES[tz];
  if (known) return known;
  const part = fmt('zone', tz, { timeZoneName: 'longGeneric' }).formatToParts(new Date()).find((p) => p.type === 'timeZoneName');
  return part?.value ?? tz;
}

/** "17:05" */
export function formatTime(at: Date, tz: string): string {
  return fmt('time', tz, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
}

/** Day keys of recent (zone, second)s: a list's lines all compare with the same "now". */
const dayKeys = new Map<string, string>();

/** The local calendar day as YYYY-MM-DD. */
function dayKey(at: Date, tz: string): string {
  const k = `${tz}|${Math.floor(at.getTime() / 1000)}`;
  let key = dayKeys.get(k);
  if (key === undefined) {
    key = fmt('day', tz, { year: 'numeric', month: '2-digit', day: '2-digit' }).format(at).split('/').reverse().join('-');
    if (dayKeys.size >= 512) dayKeys.clear();
    dayKeys.set(k, key);
  }
  return key;
}

function dayDiff(at: Date, now: Date, tz: string): number {
  return Math.round((Date.parse(`${dayKey(at, tz)}T00:00:00Z`) - Date.parse(`${dayKey(now, tz)}T00:00:00Z`)) / 86_400_000);
}

/** "hoy", "mañana", "ayer", else "el jueves 26 de noviembre" (with the year when it is not this one). */
export function formatDay(at: Date, tz: string, now: Date): string {
  const diff = dayDiff(at, now, tz);
  if (diff === 0) return 'hoy';
  if (diff === 1) return 'mañana';
  if (diff === -1) return 'ayer';
  const sameYear = fmt('y', tz, { year: 'numeric' }).format(at) === fmt('y', tz, { year: 'numeric' }).format(now);
  const long = fmt(sameYear ? 'long' : 'longY', tz, { weekday: 'long', day: 'numeric', month: 'long', ...(sameYear ? {} : { year: 'numeric' }) });
  return `el ${long.format(at).replace(',', '')}`;
}

/**
 * A moment in a sentence: "hoy a las 17:05", "mañana a las 00:00 (hora del centro de México)",
 * "el jueves 26 de noviembre a las 09:30". `zone: true` where the reader acts on it (a deadline,
 * when to come back).
 */
export function formatWhen(at: Date, tz: string, now: Date, opts: { zone?: boolean } = {}): string {
  return `${formatDay(at, tz, now)} a ${theTime(at, tz)}${opts.zone ? ` (${zoneLabel(tz)})` : ''}`;
}

/** A clock time with its article, for "a …" / "hasta …": "la 01:05" (la una), "las 17:05". */
export function theTime(at: Date, tz: string): string {
  const time = formatTime(at, tz);
  return `${time.startsWith('01:') ? 'la' : 'las'} ${time}`;
}

/** A line of a list (history, activity, the chat page's ledger): "hoy 17:05", "ayer 09:12", "26 nov 17:05". */
export function formatStamp(at: Date, tz: string, now: Date): string {
  const diff = dayDiff(at, now, tz);
  const time = formatTime(at, tz);
  if (diff === 0) return `hoy ${time}`;
  if (diff === -1) return `ayer ${time}`;
  const sameYear = fmt('y', tz, { year: 'numeric' }).format(at) === fmt('y', tz, { year: 'numeric' }).format(now);
  const day = fmt(sameYear ? 'short' : 'shortY', tz, { day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) })
    .format(at)
    .replace('.', '');
  return `${day} ${time}`;
}

/** A calendar date: "26 de noviembre de 2026" (member since). */
export function formatDate(at: Date, tz: string): string {
  return fmt('date', tz, { day: 'numeric', month: 'long', year: 'numeric' }).format(at);
}
