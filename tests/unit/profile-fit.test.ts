import { describe, expect, it } from 'vitest';
import { fitProfile, TELEGRAM_TEXT_LIMIT } from '../../lib/bot/profile-fit.js';

/** /perfil's text within Telegram's 4,096 characters (lib/bot/profile-fit.ts). */
describe('fitProfile', () => {
  const header = '👤 <b>Ana</b>';

  it('leaves a profile that fits untouched', () => {
    const text = fitProfile(header, [{ title: '💰 Besitos', body: 'Besitos: <b>5</b>' }], '…');
    expect(text).toBe('👤 <b>Ana</b>\n\n<b>💰 Besitos</b>\nBesitos: <b>5</b>');
  });

  it('cuts whole lines from the longest sections, marks the cut, keeps every heading and stays within the limit', () => {
    const line = (i: number) => `⏳ <b>${i}</b> besitos bonus caducan el ${'x'.repeat(40)}`;
    const long = Array.from({ length: 200 }, (_, i) => line(i)).join('\n');
    const sections = [
      { title: '💰 Besitos', body: long },
      { title: '🎯 Misiones', body: 'Cumplidas: <b>1</b>' },
      { title: '📖 Historia', body: long.replace(/⏳/g, '📖') },
      { title: '🏆 Ranking', body: 'Esta semana: puesto <b>1</b>' },
    ];
    const text = fitProfile(header, sections, '…');
    expect(text.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT);
    expect(text.length).toBeGreaterThan(TELEGRAM_TEXT_LIMIT - 200); // cut no more than needed
    for (const s of sections) expect(text).toContain(`<b>${s.title}</b>\n`);
    expect(text).toContain('Cumplidas: <b>1</b>');
    expect(text).toContain('Esta semana: puesto <b>1</b>');
    // Lines are whole (every <b> closed) and each cut section says so.
    for (const l of text.split('\n')) expect(l.split('<b>').length).toBe(l.split('</b>').length);
    expect(text.match(/\n…(\n|$)/g)).toHaveLength(2);
  });

  it('counts UTF-16 units (an emoji is two): 2,000 kisses fit once, not twice', () => {
    const body = Array.from({ length: 2_000 }, () => '💋').join('');
    const text = fitProfile(header, [{ title: 'A', body: `${body}\n${body}\n${body}` }], '…');
    expect(text.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT);
    expect(text.split(body)).toHaveLength(2);
  });
});
