import { describe, expect, it } from 'vitest';
import { loadContentFromDir } from '../../lib/content/file.js';
import { contentHash, type ContentStore } from '../../lib/content/store.js';
import type { Content } from '../../lib/content/schema.js';
import { skipped } from './skips.js';

/**
 * The behaviour every ContentStore adapter must have, run against each adapter: versions are stored
 * whole by hash, read back equal and validated, and never overwritten.
 */
export function contentStoreContract(name: string, open: () => Promise<ContentStore>, opts: { skip?: string } = {}) {
  if (opts.skip) console.log(`ContentStore contract "${name}" skipped: ${opts.skip}`);
  describe.skipIf(skipped(`ContentStore contract: ${name}`, Boolean(opts.skip), opts.skip ?? ''))(`ContentStore contract: ${name}${opts.skip ? ` (skipped: ${opts.skip})` : ''}`, () => {
    /** The sample content made unique to this test (the store may already hold the sample itself). */
    const sample = async () => {
      const c = await loadContentFromDir();
      const nonce = `${process.pid}-${Date.now()}-${Math.random()}`;
      const content: Content = { ...c, levels: c.levels.map((l, i) => (i === 0 ? { ...l, intro: `${l.intro} <i>${nonce}</i>` } : l)) };
      return { content, hash: contentHash(content) };
    };
    /** A different version: the sample with one fragment's text changed. */
    const edited = (c: Content): Content => ({ ...c, fragments: c.fragments.map((f, i) => (i === 0 ? { ...f, text: `${f.text} (editado)` } : f)) });

    it('stores a version and reads it back equal, with defaults applied and order kept', async () => {
      const store = await open();
      try {
        const { content, hash } = await sample();
        expect(await store.put(hash, content)).toBe(true);
        const back = await store.get(hash);
        expect(back).toEqual(content);
        expect(contentHash(back!)).toBe(hash);
      } finally {
        await store.close?.();
      }
    });

    it('a second put of the same hash writes nothing; other versions stay apart', async () => {
      const store = await open();
      try {
        const { content, hash } = await sample();
        await store.put(hash, content);
        expect(await store.put(hash, content)).toBe(false);
        const v2 = edited(content);
        const h2 = contentHash(v2);
        expect(await store.put(h2, v2)).toBe(true);
        expect((await store.get(hash))!.fragments[0]!.text).toBe(content.fragments[0]!.text);
        expect((await store.get(h2))!.fragments[0]!.text).toMatch(/\(editado\)$/);
      } finally {
        await store.close?.();
      }
    });

    it('returns null for an unknown version, never throws', async () => {
      const store = await open();
      try {
        expect(await store.get('0'.repeat(64))).toBeNull();
      } finally {
        await store.close?.();
      }
    });
  });
}
