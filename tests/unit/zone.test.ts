import { describe, expect, it } from 'vitest';
import { addDays, localDate, startOfLocalDay, startOfNextLocalDay } from '../../lib/time/zone.js';

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
