import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { lazy, lazyValues } from '../../lib/lazy.js';

describe('lazy (values built on first use, lib/lazy.ts)', () => {
  it('builds nothing until something reads it, then builds once', () => {
    let builds = 0;
    const schema = lazy(() => {
      builds++;
      return z.object({ n: z.number().int() });
    });
    expect(builds).toBe(0);
    expect(schema.parse({ n: 2 })).toEqual({ n: 2 });
    expect(schema.safeParse({ n: 2.5 }).success).toBe(false);
    expect(() => schema.parse({ n: 'x' })).toThrow(z.ZodError);
    expect(builds).toBe(1);
  });

  it('behaves as the schema it stands for: nested in other schemas, unions, instanceof, own keys', () => {
    const key = lazy(() => z.string().min(1));
    const kinds = lazyValues({ a: () => z.object({ kind: z.literal('a'), key }), b: () => z.object({ kind: z.literal('b') }) });
    expect(Object.keys(kinds)).toEqual(['a', 'b']);
    const either = lazy(() => z.discriminatedUnion('kind', [kinds.a, kinds.b]));
    expect(either.parse({ kind: 'a', key: 'x' })).toEqual({ kind: 'a', key: 'x' });
    expect(either.safeParse({ kind: 'a', key: '' }).success).toBe(false);
    expect(either.safeParse({ kind: 'c' }).success).toBe(false);
    expect(key instanceof z.ZodString).toBe(true);
    expect(z.object({ k: key.optional() }).parse({})).toEqual({});
    const plain = lazy(() => ({ sources: { daily: { label: 'Regalo diario' } } }));
    expect(Object.keys(plain)).toEqual(['sources']);
    expect({ ...plain }).toEqual({ sources: { daily: { label: 'Regalo diario' } } });
    expect(JSON.stringify(plain)).toBe('{"sources":{"daily":{"label":"Regalo diario"}}}');
  });

  it('a build that throws is tried again on the next use', () => {
    let fail = true;
    const v = lazy(() => {
      if (fail) throw new Error('not yet');
      return { ok: true };
    });
    expect(() => v.ok).toThrow('not yet');
    fail = false;
    expect(v.ok).toBe(true);
  });
});
