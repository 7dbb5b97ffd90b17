import { mkdtemp, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileContentStore, DEFAULT_CONTENT_DIR, loadStoryFromDir } from '../../lib/content/file.js';
import { InvalidContent } from '../../lib/content/schema.js';
import { contentStoreContract } from '../support/content-contract.js';

const mongoUrl = process.env.MONGODB_URL;

contentStoreContract('file adapter (content/story)', () => createFileContentStore());

contentStoreContract(
  'MongoDB adapter',
  async () => {
    const { createMongoContentStore, importStoryToMongo } = await import('../../lib/content/mongo.js');
    const dbName = `dianabot_test_${process.pid}`;
    await importStoryToMongo(mongoUrl!, await loadStoryFromDir(), dbName);
    return createMongoContentStore(mongoUrl!, dbName);
  },
  { skip: mongoUrl ? undefined : 'MONGODB_URL not set, no MongoDB server on this machine' },
);

describe('content validation', () => {
  async function withStory(files: Record<string, unknown>, fn: (dir: string) => Promise<void>) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-content-'));
    try {
      for (const [name, data] of Object.entries(files)) await writeFile(path.join(dir, name), typeof data === 'string' ? data : JSON.stringify(data));
      await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const fragment = (id: string, next: string | null = null) => ({ id, title: id, level: 1, text: 'Hola', decisions: [{ id: 'd', label: 'Seguir', next }] });

  it('merges several files and resolves references across them', async () => {
    await withStory({ 'a.json': { start: 'uno', fragments: [fragment('uno', 'dos')] }, 'b.json': { fragments: [fragment('dos')] } }, async (dir) => {
      const story = await loadStoryFromDir(dir);
      expect(story.fragments.map((f) => f.id)).toEqual(['uno', 'dos']);
    });
  });

  it('names every problem: broken links, duplicates, bad answers, disallowed tags, bad JSON', async () => {
    await withStory(
      {
        'a.json': {
          start: 'uno',
          fragments: [fragment('uno', 'fantasma'), fragment('uno'), { ...fragment('tres'), text: '<script>x</script>' }],
          trivia: [{ id: 't', question: '¿?', options: ['a', 'b'], answer: 5, reward: { besitos: 5 } }],
        },
      },
      async (dir) => {
        const err = await loadStoryFromDir(dir).catch((e) => e);
        expect(err).toBeInstanceOf(InvalidContent);
        expect(err.message).toContain('next fragment "fantasma" does not exist');
        expect(err.message).toContain('fragment "uno" is defined twice');
        expect(err.message).toContain('answer 5 is not one of its 2 options');
        expect(err.message).toContain('tag <script> is not allowed');
      },
    );
    await withStory({ 'a.json': '{ not json' }, async (dir) => {
      await expect(loadStoryFromDir(dir)).rejects.toThrow(/a\.json[\s\S]*not valid JSON/);
    });
    await withStory({ 'a.json': { start: 'uno', fragments: [{ id: 'UNO!', title: '', level: 0, text: '' }] } }, async (dir) => {
      await expect(loadStoryFromDir(dir)).rejects.toThrow(/fragments\.0\.id/);
    });
  });

  it('the shipped sample story is valid and fits Telegram limits', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-content-'));
    await cp(DEFAULT_CONTENT_DIR, dir, { recursive: true });
    const story = await loadStoryFromDir(dir);
    for (const f of story.fragments) {
      expect(f.text.length).toBeLessThanOrEqual(4096);
      for (const d of f.decisions) expect(Buffer.byteLength(`dec:${f.id}:${d.id}`)).toBeLessThanOrEqual(64);
    }
    await rm(dir, { recursive: true, force: true });
  });
});
