import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { conditions, ConditionRegistry, emptyConditionState, type Condition } from '../../lib/conditions/index.js';
import { registerNarrativeConditions } from '../../lib/narrative/conditions.js';

const scope = { subject: 'fragment:camerino' };
const s = emptyConditionState;
const c = (raw: unknown) => conditions.parse(raw);
const ok = (cond: Condition, state = s()) => conditions.evaluate(cond, state, scope);
const missing = (cond: Condition, state = s()) => {
  const r = conditions.check(cond, state, scope);
  return r.ok ? null : r.missing;
};

describe('built-in condition kinds', () => {
  it('fragment_completed', () => {
    const cond = c({ kind: 'fragment_completed', fragment: 'jardin' });
    expect(ok(cond)).toBe(false);
    expect(ok(cond, s({ completed: new Set(['jardin']) }))).toBe(true);
    expect(ok(cond, s({ completed: new Set(['otro']) }))).toBe(false);
    expect(missing(cond)).toEqual(['Primero tienes que avanzar más en la historia.']);
    const named = conditions.check(cond, s(), { ...scope, names: { fragment: (k) => (k === 'jardin' ? 'El jardín' : undefined) } });
    expect(named).toEqual({ ok: false, missing: ['Primero completa «El jardín».'] });
  });

  it('flag_set and flag_not_set, with an author hint', () => {
    const set = c({ kind: 'flag_set', flag: 'curiosa' });
    const notSet = c({ kind: 'flag_not_set', flag: 'curiosa', hint: 'Solo si aún no preguntaste.' });
    const flagged = s({ flags: new Set(['curiosa']) });
    expect([ok(set), ok(set, flagged)]).toEqual([false, true]);
    expect([ok(notSet), ok(notSet, flagged)]).toEqual([true, false]);
    expect(missing(set)).toEqual(['Se abre con una decisión que aún no has tomado.']);
    expect(missing(notSet, flagged)).toEqual(['Solo si aún no preguntaste.']);
  });

  it('level_reached', () => {
    const cond = c({ kind: 'level_reached', level: 2 });
    expect([1, 2, 3].map((level) => ok(cond, s({ level })))).toEqual([false, true, true]);
    expect(missing(cond, s({ level: 1 }))).toEqual(['Necesitas llegar al nivel 2.']);
  });

  it('vip', () => {
    const cond = c({ kind: 'vip' });
    expect([ok(cond), ok(cond, s({ vip: true }))]).toEqual([false, true]);
    expect(missing(cond)).toEqual(['Necesitas ser VIP: mira /vip.']);
  });

  it('besitos_paid holds only for the subject paid for, and says the price and balance', () => {
    const cond = c({ kind: 'besitos_paid', price: 50 });
    expect(ok(cond, s({ paid: new Set(['fragment:otro']) }))).toBe(false);
    expect(ok(cond, s({ paid: new Set(['fragment:camerino']) }))).toBe(true);
    expect(missing(cond, s({ besitos: 12 }))).toEqual(['Cuesta 50 besitos (tienes 12).']);
    expect(conditions.priceToUnlock(cond, s(), scope)).toBe(50);
    expect(conditions.priceToUnlock(cond, s({ paid: new Set([scope.subject]) }), scope)).toBeNull();
  });
});

describe('combinators', () => {
  const vip = { kind: 'vip' };
  const flag = { kind: 'flag_set', flag: 'llave' };

  it('all: every part; explains only the missing ones', () => {
    const cond = c({ kind: 'all', of: [vip, flag] });
    expect(ok(cond, s({ vip: true }))).toBe(false);
    expect(ok(cond, s({ vip: true, flags: new Set(['llave']) }))).toBe(true);
    expect(missing(cond, s({ vip: true }))).toEqual(['Se abre con una decisión que aún no has tomado.']);
  });

  it('any: one part is enough; explains the alternatives', () => {
    const cond = c({ kind: 'any', of: [vip, { kind: 'besitos_paid', price: 30 }] });
    expect(ok(cond)).toBe(false);
    expect(ok(cond, s({ vip: true }))).toBe(true);
    expect(ok(cond, s({ paid: new Set([scope.subject]) }))).toBe(true);
    expect(missing(cond, s({ besitos: 3 }))).toEqual(['Una de estas opciones: «Necesitas ser VIP: mira /vip.» o «Cuesta 30 besitos (tienes 3).»']);
    expect(conditions.priceToUnlock(cond, s(), scope)).toBe(30);
  });

  it('not: inverts, and explains with the inner kind’s negated sentence', () => {
    const cond = c({ kind: 'not', condition: flag });
    expect(ok(cond)).toBe(true);
    expect(ok(cond, s({ flags: new Set(['llave']) }))).toBe(false);
    expect(missing(cond, s({ flags: new Set(['llave']) }))).toEqual(['Una decisión que tomaste cerró este camino.']);
  });

  it('paying cannot open what also needs something else', () => {
    const cond = c({ kind: 'all', of: [vip, { kind: 'besitos_paid', price: 30 }] });
    expect(conditions.priceToUnlock(cond, s(), scope)).toBeNull();
    expect(conditions.priceToUnlock(cond, s({ vip: true }), scope)).toBe(30);
    expect(conditions.priceToUnlock(c(vip), s(), scope)).toBeNull();
  });

  it('refs lists what nested conditions mention', () => {
    const cond = c({ kind: 'any', of: [{ kind: 'not', condition: flag }, { kind: 'all', of: [{ kind: 'level_reached', level: 3 }, { kind: 'fragment_completed', fragment: 'jardin' }] }] });
    expect(conditions.refs(cond)).toEqual({ flags: ['llave'], fragments: ['jardin'], levels: [3], items: [], achievements: [] });
  });

  it('no condition means open', () => {
    expect(conditions.check(undefined, s(), scope)).toEqual({ ok: true });
  });
});

describe('validation', () => {
  it('an unknown kind fails, even nested, naming the path', () => {
    const r = conditions.schema.safeParse({ kind: 'all', of: [{ kind: 'vip' }, { kind: 'not', condition: { kind: 'luna_llena' } }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['of.1.condition.kind', expect.stringContaining('unknown condition kind "luna_llena"')]]);
  });

  it('fields are checked per kind: missing, wrong type, extra', () => {
    expect(conditions.schema.safeParse({ kind: 'flag_set' }).success).toBe(false);
    expect(conditions.schema.safeParse({ kind: 'besitos_paid', price: -5 }).success).toBe(false);
    expect(conditions.schema.safeParse({ kind: 'vip', extra: 1 }).success).toBe(false);
    expect(conditions.schema.safeParse({ kind: 'all', of: [] }).success).toBe(false);
    expect(conditions.schema.safeParse({ nokind: true }).success).toBe(false);
    expect(conditions.schema.safeParse('vip').success).toBe(false);
  });

  it('evaluating an unvalidated unknown kind throws rather than pass', () => {
    expect(() => conditions.evaluate({ kind: 'luna_llena' }, s(), scope)).toThrow(/unknown condition kind/);
    expect(() => conditions.evaluate({ kind: 'any', of: [{ kind: 'luna_llena' }] }, s(), scope)).toThrow(/unknown condition kind/);
  });

  it('another module registers a kind and content may use it; a kind cannot be registered twice', () => {
    const r = new ConditionRegistry();
    registerNarrativeConditions(r);
    expect(r.schema.safeParse({ kind: 'item_owned', item: 'llave' }).success).toBe(false);
    r.register({
      kind: 'item_owned',
      schema: z.strictObject({ kind: z.literal('item_owned'), item: z.string() }),
      evaluate: (x, st) => (st.items.get(x.item) ?? 0) > 0,
      explain: () => 'Necesitas la llave.',
    });
    const cond = r.parse({ kind: 'all', of: [{ kind: 'item_owned', item: 'llave' }, { kind: 'vip' }] });
    expect(r.evaluate(cond, s({ vip: true, items: new Map([['llave', 1]]) }), scope)).toBe(true);
    expect(() => registerNarrativeConditions(r)).toThrow(/registered twice/);
    expect(() => r.register({ kind: 'all', schema: z.strictObject({ kind: z.string() }), evaluate: () => true, explain: () => '' })).toThrow(/registered twice/);
  });
});
