import { describe, expect, it } from 'vitest';
import { localDate } from '../../lib/time/zone.js';
import { middayClock } from '../support/clock.js';

describe('tests/support/clock middayClock', () => {
  it('reads noon of today (local) and runs at real speed', async () => {
    const tz = 'America/Mexico_City';
    const clock = middayClock(tz);
    const a = clock();
    expect(localDate(a, tz)).toBe(localDate(new Date(), tz));
    expect(a.toLocaleTimeString('en-GB', { timeZone: tz, hour12: false }).slice(0, 5)).toBe('12:00');
    await new Promise((r) => setTimeout(r, 20));
    expect(clock().getTime() - a.getTime()).toBeGreaterThanOrEqual(15);
  });
});
