import { describe, expect, it } from 'vitest';
import { crossCheck, fragmentSchema, mediaSchema, normalizeAnswer, parseContent, riddleMatches } from '../../lib/content/schema.js';

describe('normalizeAnswer', () => {
  it('ignores case, accents, punctuation and extra spaces', () => {
    expect(normalizeAnswer('  El   CORAZÓN! ')).toBe('el corazon');
    expect(normalizeAnswer('¿La Luna?')).toBe('la luna');
    expect(normalizeAnswer('Añoranza')).toBe('anoranza');
    expect(normalizeAnswer('Ünïcödé')).toBe('unicode');
  });
  it('emoji only and empty become empty and never match', () => {
    expect(normalizeAnswer('🌙🌙✨')).toBe('');
    expect(riddleMatches({ answers: ['luna'] }, '🌙')).toBe(false);
    expect(riddleMatches({ answers: ['luna'] }, '   ')).toBe(false);
  });
  it('matches any accepted answer; a 4,096-character message is cut, not compared whole', () => {
    const riddle = { answers: ['El silencio', 'silencio'] };
    expect(riddleMatches(riddle, 'SILENCIO.')).toBe(true);
    expect(riddleMatches(riddle, 'el  Silencio')).toBe(true);
    expect(riddleMatches(riddle, 'el ruido')).toBe(false);
    expect(riddleMatches(riddle, 'silencio ' + 'x'.repeat(4096))).toBe(false);
    expect(normalizeAnswer('a'.repeat(4096)).length).toBe(200);
  });
});

describe('content schema v2', () => {
  const base = { key: 'f', level: 1, title: 'T', narrator: 'Diana', text: 'Hola' };
  it('applies defaults', () => {
    const f = fragmentSchema.parse(base);
    expect(f).toMatchObject({ type: 'story', secret: false, ending: false, decisions: [], rewards: { besitos: 0, items: [], achievements: [] } });
  });
  it('media needs exactly one of url or file_id', () => {
    expect(mediaSchema.safeParse({ type: 'photo', url: 'https://x.test/a.jpg' }).success).toBe(true);
    expect(mediaSchema.safeParse({ type: 'video', file_id: 'BAACAgIAAxkBAAIB' }).success).toBe(true);
    expect(mediaSchema.safeParse({ type: 'photo' }).success).toBe(false);
    expect(mediaSchema.safeParse({ type: 'photo', url: 'https://x.test/a.jpg', file_id: 'BAACAgIAAxkBAAIB' }).success).toBe(false);
    expect(mediaSchema.safeParse({ type: 'audio', url: 'https://x.test/a.mp3' }).success).toBe(false);
  });
  it('checks that each fragment type has what it needs and that dice branches cover every value once', () => {
    const content = parseContent(
      {
        start: 'f',
        levels: [{ number: 1, title: 'Uno', intro: 'Hola' }],
        fragments: [{ ...base, type: 'mini_game', game: { kind: 'dice', branches: [{ min: 1, max: 3, next: 'f' }, { min: 4, max: 6, next: 'f' }] } }],
      },
      'test',
    );
    const broken = {
      ...content,
      fragments: [
        { ...content.fragments[0]!, game: { kind: 'dice' as const, emoji: '🎲' as const, branches: [{ min: 1, max: 4, next: 'f', rewards: content.fragments[0]!.rewards }, { min: 4, max: 5, next: 'f', rewards: content.fragments[0]!.rewards }] } },
        { ...content.fragments[0]!, key: 'g', type: 'decision' as const, game: undefined },
      ],
    };
    const messages = crossCheck(broken).map((p) => `${p.where}: ${p.message}`);
    expect(messages).toEqual([
      'fragment f game: dice value 4 matches 2 branches (each of 1..6 needs exactly one)',
      'fragment f game: dice value 6 matches 0 branches (each of 1..6 needs exactly one)',
      'fragment g: a decision fragment needs decisions',
    ]);
  });
});
