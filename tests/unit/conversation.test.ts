import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cb } from '../../lib/bot/keyboard.js';
import { fitHtml, LIMITS, shortName, visibleLength } from '../../lib/bot/reply.js';
import { formatDay, formatStamp, formatWhen, theTime, zoneLabel } from '../../lib/time/format.js';

const MX = 'America/Mexico_City';

describe('reply limits', () => {
  it('shortName keeps short names, cuts long ones on whole graphemes with "…", flattens lines', () => {
    expect(shortName('Lucía')).toBe('Lucía');
    expect(shortName('a'.repeat(4000))).toBe(`${'a'.repeat(31)}…`);
    expect(shortName('Ana\n\nMaría')).toBe('Ana María');
    const emoji = shortName('👩‍👩‍👧‍👦'.repeat(10), 12);
    expect(emoji.endsWith('…')).toBe(true);
    expect(emoji.slice(0, -1)).toBe('👩‍👩‍👧‍👦'); // 11 UTF-16 units: one family fits, never half of one
  });

  it('fitHtml: any text ends within the limit with balanced tags', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.integer({ min: 5, max: 120 }), (raw, max) => {
        const html = `<b>${raw.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</b> <i>fin</i>`;
        const out = fitHtml(html, max);
        expect(visibleLength(out)).toBeLessThanOrEqual(max);
        expect(out.match(/<b>/g)?.length ?? 0).toBe(out.match(/<\/b>/g)?.length ?? 0);
        expect(out.match(/<i>/g)?.length ?? 0).toBe(out.match(/<\/i>/g)?.length ?? 0);
        expect(/&[a-z]*$/.test(out.replace(/<\/?\w+>/g, '').replace(/…$/, ''))).toBe(false); // no half entity
      }),
    );
    expect(fitHtml(`<b>${'x'.repeat(5000)}</b>`, LIMITS.text)).toBe(`<b>${'x'.repeat(4095)}…</b>`);
    expect(fitHtml('&amp;'.repeat(4096), 4096)).toBe('&amp;'.repeat(4096)); // entities count as one character
  });

  it('callback_data over 64 bytes is refused when the keyboard is built', () => {
    expect(cb('g', 'y', 123, 'abc')).toBe('g:y:123:abc');
    expect(() => cb('x', 'ñ'.repeat(40))).toThrow(/64 bytes/);
  });
});

describe('one date and time formatter', () => {
  const now = new Date('2026-11-25T23:53:00Z'); // 17:53 in Mexico City
  it('24-hour, relative days, the zone named where it matters', () => {
    expect(formatWhen(new Date('2026-11-26T06:00:00Z'), MX, now, { zone: true })).toBe('mañana a las 00:00 (hora del centro de México)');
    expect(formatWhen(new Date('2026-11-25T23:54:00Z'), MX, now)).toBe('hoy a las 17:54');
    expect(formatWhen(new Date('2026-11-26T07:05:00Z'), MX, now)).toBe('mañana a la 01:05');
    // "hasta la 01:05" / "hasta las 02:05": the article agrees with the hour in every sentence.
    expect(theTime(new Date('2026-11-26T07:05:00Z'), MX)).toBe('la 01:05');
    expect(theTime(new Date('2026-11-26T08:05:00Z'), MX)).toBe('las 02:05');
    expect(formatDay(new Date('2026-11-28T18:00:00Z'), MX, now)).toBe('el sábado 28 de noviembre');
    expect(formatDay(new Date('2027-01-02T18:00:00Z'), MX, now)).toBe('el sábado 2 de enero de 2027');
    expect(formatStamp(new Date('2026-11-25T23:53:00Z'), MX, now)).toBe('hoy 17:53');
    expect(formatStamp(new Date('2026-11-25T00:10:00Z'), MX, now)).toBe('ayer 18:10');
    expect(formatStamp(new Date('2026-11-20T05:07:00Z'), MX, now)).toBe('19 nov 23:07');
    expect(zoneLabel('Europe/Madrid')).toBe('hora de España peninsular');
    expect(zoneLabel('Asia/Tokyo')).toMatch(/^hora/);
  });
});
