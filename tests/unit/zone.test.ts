import { describe, expect, it } from 'vitest';
import { addDays, intlWallClock, localDate, startOfLocalDay, startOfNextLocalDay, wallClock } from '../../lib/time/zone.js';

describe('time zone calendar', () => {
  it('local dates differ from UTC near midnight', () => {
    expect(localDate(new Date('2026-01-01T05:00:00Z'), 'America/Mexico_City')).toBe('2025-12-31');
    expect(localDate(new Date('2026-01-01T05:00:00Z'), 'Asia/Tokyo')).toBe('2026-01-01');
  });
  it('adds days across months and leap years', () => {
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });
  it('finds local midnight, also on DST change days', () => {
    expect(startOfLocalDay('2026-03-10', 'America/Mexico_City').toISOString()).toBe('2026-03-10T06:00:00.000Z');
    // New York springs forward on 2026-03-08 (EST → EDT): midnight is still EST (UTC-5).
    expect(startOfLocalDay('2026-03-08', 'America/New_York').toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect(startOfLocalDay('2026-03-09', 'America/New_York').toISOString()).toBe('2026-03-09T04:00:00.000Z');
    expect(startOfNextLocalDay(new Date('2026-10-25T12:00:00Z'), 'Europe/Madrid').toISOString()).toBe('2026-10-25T23:00:00.000Z');
  });
});

describe('the wall clock from cached hourly offsets (lib/time/zone.ts offsetOf)', () => {
  const zones = ['America/Mexico_City', 'America/New_York', 'Europe/Madrid', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Santiago', 'Africa/Casablanca', 'UTC'];
  const intlOffset = (ms: number, tz: string) => {
    const p = intlWallClock(new Date(ms), tz);
    return Date.UTC(p.y, p.m - 1, p.d, p.h, p.min, p.s) - Math.floor(ms / 1000) * 1000;
  };

  it('agrees with Intl at random instants from 1970 to 2040', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const tz of zones) {
      for (let i = 0; i < 1500; i++) {
        const at = new Date(Date.UTC(1970, 0, 1) + random() * 70 * 365.25 * 86_400_000);
        expect(wallClock(at, tz), `${tz} ${at.toISOString()}`).toEqual(intlWallClock(at, tz));
      }
    }
  });

  it('agrees with Intl on both sides of every offset change from 2024 to 2027, to the second', () => {
    let changes = 0;
    for (const tz of zones) {
      const start = Date.UTC(2024, 0, 1);
      for (let day = start; day < Date.UTC(2028, 0, 1); day += 86_400_000) {
        if (intlOffset(day, tz) === intlOffset(day + 86_400_000, tz)) continue;
        let lo = day;
        let hi = day + 86_400_000;
        while (hi - lo > 1000) {
          const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
          if (intlOffset(mid, tz) === intlOffset(day, tz)) lo = mid;
          else hi = mid;
        }
        changes++;
        for (const ms of [hi - 3_600_000, hi - 1000, hi - 1, hi, hi + 999, hi + 1000, hi + 3_600_000]) {
          const at = new Date(ms);
          expect(wallClock(at, tz), `${tz} ${at.toISOString()}`).toEqual(intlWallClock(at, tz));
        }
      }
    }
    expect(changes).toBeGreaterThan(40); // the DST zones' changes were really visited
  });
});
