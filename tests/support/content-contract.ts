import { describe, expect, it } from 'vitest';
import type { ContentStore } from '../../lib/content/store.js';

/** The behaviour every ContentStore adapter must have, run against each adapter. */
export function contentStoreContract(name: string, open: () => Promise<ContentStore>, opts: { skip?: string } = {}) {
  describe.skipIf(Boolean(opts.skip))(`ContentStore contract: ${name}${opts.skip ? ` (skipped: ${opts.skip})` : ''}`, () => {
    it('has a start fragment that exists', async () => {
      const store = await open();
      const start = await store.getFragment(await store.startFragmentId());
      expect(start?.id).toBe('prologo');
      expect(start?.decisions.length).toBeGreaterThan(0);
      await store.close?.();
    });

    it('returns null for unknown ids, never throws', async () => {
      const store = await open();
      expect(await store.getFragment('no-existe')).toBeNull();
      expect(await store.getTrivia('no-existe')).toBeNull();
      await store.close?.();
    });

    it('every decision leads to an existing fragment or ends the chapter', async () => {
      const store = await open();
      const fragments = await store.listFragments();
      const ids = new Set(fragments.map((f) => f.id));
      for (const f of fragments) for (const d of f.decisions) if (d.next !== null) expect(ids.has(d.next)).toBe(true);
      await store.close?.();
    });

    it('filters fragments by level and trivia by fragment, with defaults applied', async () => {
      const store = await open();
      const level1 = await store.listFragments({ level: 1 });
      expect(level1.length).toBeGreaterThan(0);
      expect(level1.every((f) => f.level === 1)).toBe(true);
      const trivia = await store.listTrivia({ fragmentId: 'paseo' });
      expect(trivia.map((t) => t.id)).toEqual(['flor_del_paseo']);
      expect(trivia[0]!.timeLimitSeconds).toBe(60);
      const secret = await store.getFragment('secreto_fuente');
      expect(secret?.secret).toBe(true);
      expect(secret?.requires.flags).toEqual(['curiosa']);
      await store.close?.();
    });
  });
}
