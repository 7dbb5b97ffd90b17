import type { BusEvent } from '../bus/events.js';
import { addDays, localDate, startOfLocalDay } from '../time/zone.js';
import type { Achievement, FactKind, Mission, Recurrence, Requirement } from './catalogue.js';

/**
 * Pure rules of missions and achievements (Decider style: no I/O). Progress is always computed from
 * the *set* of facts a user has (one row per event and kind, stored idempotently), never by adding
 * to a counter: a replayed, duplicated or late event changes nothing or lands in its own period,
 * whatever the order of arrival.
 */

/** One thing a user did, learned from one bus event. */
export interface Fact {
  kind: FactKind;
  /** The event it comes from (or a synthetic id such as `mission:<key>:<period>`). */
  sourceId: string;
  at: Date;
  /** What it was about: a fragment key, an item key, a gift's receiver, a besitos source … */
  subject: string | null;
  /** Quantity or besitos (1 when it is just an occurrence). */
  amount: number;
}

/** Extra facts the subscriber looks up for an event (a gift's receiver is not in the ledger event). */
export interface EventLookups {
  giftReceiverId?: number | null;
}

/** The facts one event says about its user (none for events gamification does not count). */
export function factsFromEvent(event: BusEvent, lookups: EventLookups = {}): Fact[] {
  const at = new Date(event.occurred_at);
  const fact = (kind: FactKind, subject: string | null, amount = 1): Fact => ({ kind, sourceId: event.event_id, at, subject, amount });
  switch (event.type) {
    case 'narrative.fragment_completed':
      return [fact('fragment_completed', event.data.fragment_key)];
    case 'narrative.level_completed':
      return [fact('level_completed', String(event.data.level))];
    case 'narrative.secret_discovered':
      return [fact('secret_discovered', event.data.secret_key)];
    case 'gamification.trivia_answered':
      return event.data.correct
        ? [fact('trivia_answered', event.data.trivia_key), fact('trivia_correct', event.data.trivia_key)]
        : [fact('trivia_answered', event.data.trivia_key)];
    case 'gamification.item_purchased':
      return [fact('item_purchased', event.data.item_key, event.data.quantity)];
    case 'gamification.item_used':
      return [fact('item_used', event.data.item_key, event.data.quantity)];
    case 'gamification.besitos_earned': {
      // A compensating entry is not something the user earned.
      if (event.data.reversal_of !== undefined) return [];
      const facts = [fact('besitos_earned', event.data.source, event.data.amount)];
      if (event.data.source === 'daily') facts.push(fact('daily_claimed', null));
      return facts;
    }
    case 'gamification.besitos_spent':
      if (event.data.reversal_of !== undefined || event.data.source !== 'gift' || !lookups.giftReceiverId) return [];
      return [fact('gift_sent', String(lookups.giftReceiverId), event.data.amount)];
    default:
      return [];
  }
}

/** A mission's period: facts that happened in [start, end) count toward it. */
export interface Period {
  key: string;
  start: Date | null;
  end: Date | null;
}

/** ISO weekday of a YYYY-MM-DD date: 1 = Monday … 7 = Sunday. */
function isoWeekday(date: string): number {
  const d = new Date(`${date}T00:00:00Z`).getUTCDay();
  return d === 0 ? 7 : d;
}

const ONCE: Readonly<Period> = Object.freeze({ key: 'once', start: null, end: null });

/**
 * Periods computed before, per recurrence and zone, newest first: an instant inside one needs no
 * time-zone arithmetic (Intl formatting was an eighth of the subscriber's CPU: every fact's day and
 * every mission's period, for every event).
 */
const knownPeriods = new Map<string, Readonly<Period>[]>();
const KNOWN_PERIODS = 64;

/** The period of a recurrence that contains `at`: daily from local midnight of `timeZone`, weekly from Monday's. */
export function periodOf(recurrence: Recurrence, at: Date, timeZone: string): Readonly<Period> {
  if (recurrence === 'once') return ONCE;
  const cacheKey = `${recurrence}\u0000${timeZone}`;
  const t = at.getTime();
  const known = knownPeriods.get(cacheKey) ?? [];
  for (const p of known) if (t >= p.start!.getTime() && t < p.end!.getTime()) return p;
  const today = localDate(at, timeZone);
  const first = recurrence === 'daily' ? today : addDays(today, 1 - isoWeekday(today));
  const next = addDays(first, recurrence === 'daily' ? 1 : 7);
  const period = Object.freeze({ key: first, start: startOfLocalDay(first, timeZone), end: startOfLocalDay(next, timeZone) });
  // Kept only when it holds the instant it was computed for (a zone whose midnight a DST change skips may not).
  if (t >= period.start.getTime() && t < period.end.getTime()) knownPeriods.set(cacheKey, [period, ...known.slice(0, KNOWN_PERIODS - 1)]);
  return period;
}

/** The local date of an instant, through the known daily periods. */
function dayOf(at: Date, timeZone: string): string {
  return periodOf('daily', at, timeZone).key;
}

/** Whether a mission is on offer at `at` (its dates, if any). */
export function missionOpenAt(m: Mission, at: Date): boolean {
  if (m.starts_at && at.getTime() < Date.parse(m.starts_at)) return false;
  if (m.expires_at && at.getTime() >= Date.parse(m.expires_at)) return false;
  return true;
}

/** When the current period of a mission ends for the user (its expiry if sooner); null: never. */
export function missionDeadline(m: Mission, period: Period): Date | null {
  const expiry = m.expires_at ? new Date(m.expires_at) : null;
  if (!period.end) return expiry;
  if (!expiry) return period.end;
  return expiry < period.end ? expiry : period.end;
}

/** Facts that match a requirement (kind and subject), one per source id. */
export function matchingFacts(req: Requirement, facts: readonly Fact[]): Fact[] {
  const seen = new Set<string>();
  return facts.filter((f) => {
    if (f.kind !== req.fact || (req.subject !== undefined && f.subject !== req.subject)) return false;
    if (seen.has(f.sourceId)) return false;
    seen.add(f.sourceId);
    return true;
  });
}

/** The longest run of consecutive local days among the facts. */
export function longestStreak(days: Iterable<string>): number {
  const sorted = [...new Set(days)].sort();
  let best = 0;
  let run = 0;
  let previous: string | null = null;
  for (const d of sorted) {
    run = previous !== null && addDays(previous, 1) === d ? run + 1 : 1;
    best = Math.max(best, run);
    previous = d;
  }
  return best;
}

/** The largest number (or sum) of facts inside any window of `hours` (sliding over their times). */
function bestWindow(facts: Fact[], hours: number, measure: (fs: Fact[]) => number): number {
  const sorted = [...facts].sort((a, b) => a.at.getTime() - b.at.getTime());
  const width = hours * 3_600_000;
  let best = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to++) {
    while (sorted[to]!.at.getTime() - sorted[from]!.at.getTime() >= width) from++;
    best = Math.max(best, measure(sorted.slice(from, to + 1)));
  }
  return best;
}

function measureOf(req: Requirement, timeZone: string): (fs: Fact[]) => number {
  switch (req.measure) {
    case 'count':
      return (fs) => fs.length;
    case 'sum':
      return (fs) => fs.reduce((s, f) => s + f.amount, 0);
    case 'distinct':
      return (fs) => new Set(fs.map((f) => f.subject)).size;
    case 'streak_days':
      return (fs) => longestStreak(fs.map((f) => dayOf(f.at, timeZone)));
  }
}

/** Progress toward a requirement, capped at its target. */
export function progressOf(req: Requirement, facts: readonly Fact[], timeZone: string): number {
  const matching = matchingFacts(req, facts);
  const measure = measureOf(req, timeZone);
  const value = req.within_hours ? bestWindow(matching, req.within_hours, measure) : measure(matching);
  return Math.min(value, req.count);
}

export interface MissionProgress {
  period: Readonly<Period>;
  progress: number;
  target: number;
  completed: boolean;
}

/**
 * A mission's progress in the period that contains `at` (a fact's time, or now): only the facts of
 * that period count, and only while the mission was open.
 */
export function missionProgress(m: Mission, facts: readonly Fact[], at: Date, timeZone: string): MissionProgress {
  const period = periodOf(m.recurrence, at, timeZone);
  const inPeriod = facts.filter(
    (f) => (!period.start || f.at >= period.start) && (!period.end || f.at < period.end) && missionOpenAt(m, f.at),
  );
  const progress = progressOf(m.requirement, inPeriod, timeZone);
  return { period, progress, target: m.requirement.count, completed: progress >= m.requirement.count };
}

export interface AchievementProgress {
  progress: number;
  target: number;
  /** Requirement met and every prerequisite unlocked. */
  unlocks: boolean;
  missingPrerequisites: string[];
}

/** An achievement's state given the user's facts and the achievements already unlocked. */
export function achievementProgress(a: Achievement, facts: readonly Fact[], unlocked: ReadonlySet<string>, timeZone: string): AchievementProgress {
  const missingPrerequisites = a.prerequisites.filter((p) => !unlocked.has(p));
  if (!a.requirement) {
    // With no prerequisites either, only the story's rewards grant it.
    const target = Math.max(1, a.prerequisites.length);
    const unlocks = a.prerequisites.length > 0 && missingPrerequisites.length === 0;
    return { progress: a.prerequisites.length - missingPrerequisites.length, target, unlocks, missingPrerequisites };
  }
  const progress = progressOf(a.requirement, facts, timeZone);
  return { progress, target: a.requirement.count, unlocks: progress >= a.requirement.count && missingPrerequisites.length === 0, missingPrerequisites };
}

/** "▰▰▱▱▱ 2/5": `width` cells, filled in proportion (rounded down; full only when done). */
export function progressBar(progress: number, target: number, width = 5): string {
  const p = Math.max(0, Math.min(progress, target));
  const filled = p >= target ? width : Math.min(width - 1, Math.floor((p / target) * width));
  return `${'▰'.repeat(filled)}${'▱'.repeat(width - filled)} ${p}/${target}`;
}

/** Time left in Spanish: "2 d 5 h", "3 h 20 min", "45 min", "menos de 1 min". */
export function timeLeft(now: Date, end: Date): string {
  const minutes = Math.floor((end.getTime() - now.getTime()) / 60_000);
  if (minutes < 1) return 'menos de 1 min';
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const min = minutes % 60;
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return min > 0 ? `${h} h ${min} min` : `${h} h`;
  return `${min} min`;
}
