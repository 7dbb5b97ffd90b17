import { periodOf } from './rules.js';

/**
 * Pure ranking rules. Two boards, both by besitos earned from sources (grants; gifts and auction
 * transfers between users are not earnings, and reversing a grant takes it back):
 *  - 'all': lifetime, user_balances.lifetime_besitos;
 *  - 'week': earned in the ISO week (Monday 00:00 to Monday 00:00 of BOT_TIMEZONE) of the grant.
 * Each board is a sorted set (member: internal user id, score: besitos) keyed by board and week.
 */
export type Board = 'week' | 'all';
export const BOARDS: readonly Board[] = ['week', 'all'];
export const TOP = 10;

/** Key prefix; bump the version to rebuild every board after a change of what a score means. */
const PREFIX = 'rank:v1';

/** The Monday (local date, YYYY-MM-DD) that starts the ISO week containing `at` in the zone. */
export function weekOf(at: Date, timeZone: string): { monday: string; start: Date; end: Date } {
  const p = periodOf('weekly', at, timeZone);
  return { monday: p.key, start: p.start!, end: p.end! };
}

/** The sorted set of a board; for 'week', of the week containing `at` (or the week starting on `monday`). */
export function boardKey(board: Board, week: { monday: string } | null): string {
  return board === 'all' ? `${PREFIX}:all` : `${PREFIX}:week:${week!.monday}`;
}

/** Set once a board was loaded from Postgres: without it (Redis emptied, the in-memory store at start) the board is rebuilt. */
export function builtMarker(key: string): string {
  return `${key}:built`;
}

export function rebuildLock(key: string): string {
  return `${key}:rebuilding`;
}

/** Weekly boards outlive their week by a week (last week's result stays readable), then expire. */
export const WEEK_TTL_SECONDS = 15 * 86_400;
/** The all-time board's marker expires daily, so a board left stale by a store outage is reloaded. */
export const ALL_MARKER_TTL_SECONDS = 86_400;

/** The ISO week number (1–53) of a Monday date, for display ("semana 48"). */
export function isoWeekNumber(monday: string): number {
  const d = new Date(`${monday}T00:00:00Z`);
  const thursday = new Date(d.getTime() + 3 * 86_400_000);
  const yearStart = Date.UTC(thursday.getUTCFullYear(), 0, 1);
  return Math.floor((thursday.getTime() - yearStart) / (7 * 86_400_000)) + 1;
}

export interface RankEntry {
  userId: number;
  score: number;
}

/**
 * The order Redis keeps (ZREVRANGE): score descending, ties by member descending as a string.
 * The SQL recomputation and the Postgres fallback sort the same way, so positions match.
 */
export function compareEntries(a: RankEntry, b: RankEntry): number {
  if (a.score !== b.score) return b.score - a.score;
  const x = String(a.userId);
  const y = String(b.userId);
  return x < y ? 1 : x > y ? -1 : 0;
}

/**
 * The name shown in a ranking: the first name the person chose for their Telegram profile (what
 * anyone they write to sees), first word only and at most 16 characters; never the @username or
 * the last name. Someone who asked to be anonymous is shown as such.
 */
export function rankingName(firstName: string | null, anonymous: boolean): string {
  if (anonymous) return 'Anónimo';
  const first = (firstName ?? '').trim().split(/\s+/)[0] ?? '';
  if (!first) return 'Sin nombre';
  const chars = [...first];
  return chars.length > 16 ? `${chars.slice(0, 15).join('')}…` : first;
}
