import { describe, expect, it } from 'vitest';
import { boardKey, compareEntries, isoWeekNumber, rankingName, weekOf } from '../../lib/gamification/rules-ranking.js';

describe('ranking rules', () => {
  const TZ = 'America/Mexico_City'; // UTC−6, no DST
  it('the weekly board resets at Monday 00:00 of the zone (key per ISO week)', () => {
    const sunday = weekOf(new Date('2026-11-30T05:59:59Z'), TZ); // Sunday 29 Nov, 23:59:59 local
    const monday = weekOf(new Date('2026-11-30T06:00:00Z'), TZ); // Monday 30 Nov, 00:00 local
    expect(sunday.monday).toBe('2026-11-23');
    expect(monday.monday).toBe('2026-11-30');
    expect(monday.start.toISOString()).toBe('2026-11-30T06:00:00.000Z');
    expect(monday.end.toISOString()).toBe('2026-12-07T06:00:00.000Z');
    expect(boardKey('week', sunday)).not.toBe(boardKey('week', monday));
    expect(boardKey('all', null)).toBe(boardKey('all', null));
    // Across a DST change the week is still Monday to Monday, local.
    const madrid = weekOf(new Date('2026-10-28T12:00:00Z'), 'Europe/Madrid');
    expect(madrid.start.toISOString()).toBe('2026-10-25T23:00:00.000Z'); // Mon 26 Oct 00:00 CET (UTC+1: DST ended on the 25th)
    expect(madrid.end.toISOString()).toBe('2026-11-01T23:00:00.000Z');
    expect(isoWeekNumber('2026-11-23')).toBe(48);
    expect(isoWeekNumber('2026-12-28')).toBe(53);
    expect(isoWeekNumber('2027-01-04')).toBe(1);
  });

  it('orders like Redis: score descending, ties by member descending as text', () => {
    const e = [{ userId: 9, score: 5 }, { userId: 10, score: 5 }, { userId: 2, score: 7 }, { userId: 11, score: 5 }];
    expect([...e].sort(compareEntries).map((x) => x.userId)).toEqual([2, 9, 11, 10]);
  });

  it('names: first word of the first name, at most 16 characters, never more; «Anónimo» on request', () => {
    expect(rankingName('Ana María', false)).toBe('Ana');
    expect(rankingName('  Bea  ', false)).toBe('Bea');
    expect(rankingName('Supercalifragilístico', false)).toBe('Supercalifragil…');
    expect(rankingName(null, false)).toBe('Sin nombre');
    expect(rankingName('Ana', true)).toBe('Anónimo');
  });
});
