import { describe, expect, it } from 'vitest';
import { loadContentFromDir } from '../../lib/content/file.js';
import { InvalidContent } from '../../lib/content/schema.js';
import { ContentIndex, contentHash } from '../../lib/content/store.js';
import { contentStoreContract } from '../support/content-contract.js';
import { withContentDir } from '../support/content-files.js';

const mongoUrl = process.env.MONGODB_URL;

contentStoreContract(
  'MongoDB',
  async () => {
    const { createMongoContentStore } = await import('../../lib/content/mongo.js');
    return createMongoContentStore(mongoUrl!, `dianabot_test_${process.pid}`);
  },
  { skip: mongoUrl ? undefined : 'MONGODB_URL is not set (no MongoDB server on this machine)' },
);

describe('content files', () => {
  const level = { number: 1, title: 'Uno', intro: 'Hola' };
  const fragment = (key: string, next?: string) => ({ key, title: key, level: 1, narrator: 'Diana', text: 'Hola', ...(next ? { next } : { ending: true }) });

  it('merges files in sub-folders and resolves references across them', async () => {
    await withContentDir(
      { 'a.json': { start: 'uno', levels: [level], fragments: [fragment('uno', 'dos')] }, 'sub/b.json': { fragments: [fragment('dos')] } },
      async (dir) => {
        const content = await loadContentFromDir(dir);
        expect(content.fragments.map((f) => f.key)).toEqual(['uno', 'dos']);
        expect(content.fragments[1]!.rewards).toEqual({ besitos: 0, items: [], achievements: [] });
      },
    );
  });

  it('names every problem: broken links, duplicates, answers not among options, disallowed tags, unknown conditions, bad JSON', async () => {
    await withContentDir(
      {
        'a.json': {
          start: 'uno',
          levels: [level],
          fragments: [
            fragment('uno', 'fantasma'),
            fragment('uno'),
            { ...fragment('tres'), text: '<script>x</script>' },
            { ...fragment('cuatro'), level: 9 },
          ],
          trivia: [{ key: 't', question: '¿?', options: ['a', 'b'], answer: 'c', rewards: { correct: { besitos: 5 }, incorrect: {} } }],
        },
      },
      async (dir) => {
        const err = await loadContentFromDir(dir).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidContent);
        const msg = (err as Error).message;
        expect(msg).toContain('next fragment "fantasma" does not exist');
        expect(msg).toContain('fragment uno: is defined twice');
        expect(msg).toContain('answer "c" is not one of its options');
        expect(msg).toContain('tag <script> is not allowed');
        expect(msg).toContain('level 9 does not exist');
      },
    );
    await withContentDir({ 'a.json': { start: 'uno', levels: [level], fragments: [{ ...fragment('uno'), unlock: { kind: 'luna_llena' } }] } }, async (dir) => {
      await expect(loadContentFromDir(dir)).rejects.toThrow(/fragments\.0\.unlock\.kind: unknown condition kind "luna_llena"/);
    });
    await withContentDir({ 'a.json': '{ not json' }, async (dir) => {
      await expect(loadContentFromDir(dir)).rejects.toThrow(/a\.json: not valid JSON/);
    });
    await withContentDir({ 'a.json': { start: 'uno', levels: [level], fragments: [{ key: 'UNO!', title: '', level: 0, text: '' }] } }, async (dir) => {
      await expect(loadContentFromDir(dir)).rejects.toThrow(/fragments\.0\.key/);
    });
    await withContentDir({ 'a.json': { start: 'uno', levels: [level], fragments: [fragment('uno')] }, 'b.json': { start: 'dos' } }, async (dir) => {
      await expect(loadContentFromDir(dir)).rejects.toThrow(/b\.json: "start" is set again/);
    });
  });

  it('the shipped content is valid, fits Telegram limits and hashes the same every time', async () => {
    const content = await loadContentFromDir();
    const index = new ContentIndex(content);
    expect(index.fragment(content.start)).not.toBeNull();
    for (const f of content.fragments) {
      expect(f.text.length).toBeLessThanOrEqual(4096);
      for (const d of f.decisions) expect(d.label.length).toBeLessThanOrEqual(64);
    }
    expect(contentHash(await loadContentFromDir())).toBe(index.version.hash);
  });

  it('the sample story has what the issue asks for: 3 levels (one VIP), 30 fragments, 2 endings, a premium fragment, 2 secrets, both mini-games, 10 trivia', async () => {
    const c = await loadContentFromDir();
    expect(c.levels.length).toBeGreaterThanOrEqual(3);
    expect(c.levels.some((l) => l.vip)).toBe(true);
    expect(c.fragments.length).toBeGreaterThanOrEqual(30);
    expect(c.fragments.filter((f) => f.ending).length).toBeGreaterThanOrEqual(2);
    expect(c.fragments.filter((f) => f.secret).length).toBeGreaterThanOrEqual(2);
    expect(c.fragments.some((f) => JSON.stringify(f.unlock ?? {}).includes('"besitos_paid"'))).toBe(true);
    expect(new Set(c.fragments.flatMap((f) => (f.game ? [f.game.kind] : [])))).toEqual(new Set(['riddle', 'dice']));
    expect(c.trivia.length).toBeGreaterThanOrEqual(10);
    expect(new Set(c.fragments.map((f) => f.narrator))).toEqual(new Set(['Narrador', 'Diana', 'Lucien']));
  });
});
