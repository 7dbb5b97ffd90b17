import { describe, expect, it } from 'vitest';
import { loadContentFromDir } from '../../lib/content/file.js';
import { relocate } from '../../lib/content/relocate.js';
import { ContentIndex } from '../../lib/content/store.js';

const content = await loadContentFromDir();
const index = new ContentIndex(content);

describe('relocate (saves survive content edits)', () => {
  it('a fragment that still exists stays', () => {
    const f = content.fragments.at(-1)!;
    expect(relocate(index, { fragment: f.key, level: f.level })).toEqual({ fragment: f.key, relocated: false });
  });

  it('a removed fragment → the first open fragment of its level', () => {
    for (const level of index.listLevels()) {
      const r = relocate(index, { fragment: 'borrado_en_esta_version', level: level.number });
      expect(r.relocated).toBe(true);
      const target = index.fragment(r.fragment)!;
      if (target.key !== index.start) {
        expect(target.level).toBe(level.number);
        expect(target.unlock).toBeUndefined();
        expect(target.secret).toBe(false);
      }
    }
  });

  it('a removed fragment of a level that is gone too → the start', () => {
    expect(relocate(index, { fragment: 'borrado', level: 99 })).toEqual({ fragment: index.start, relocated: true });
  });

  it('a level whose fragments are all locked or secret → the start', () => {
    const locked = new ContentIndex({
      ...content,
      fragments: content.fragments.map((f) => (f.level === 2 ? { ...f, secret: true } : f)),
    });
    expect(relocate(locked, { fragment: 'borrado', level: 2 })).toEqual({ fragment: index.start, relocated: true });
  });
});
