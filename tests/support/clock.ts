import { localDate, startOfLocalDay, type Clock } from '../../lib/time/zone.js';

/**
 * A clock that runs at real speed and reads noon (local, `timeZone`) of today's local date when made:
 * for long tests that claim "once a day" (the daily gift) and must not see a new day because the run
 * crossed local midnight (America/Mexico_City: 06:00 UTC). Twelve hours either side is room for any run.
 */
export function middayClock(timeZone: string): Clock {
  const noon = startOfLocalDay(localDate(new Date(), timeZone), timeZone).getTime() + 12 * 3_600_000;
  const offset = noon - Date.now();
  return () => new Date(Date.now() + offset);
}
