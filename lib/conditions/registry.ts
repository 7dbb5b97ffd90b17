import { z } from 'zod';
import { lazy } from '../lazy.js';

/**
 * Unlock conditions as strategies (seed: Strategy pattern). A condition is plain JSON in the content,
 * `{ "kind": "...", ...fields }`; each kind is registered once with a zod schema for its fields, a pure
 * evaluator over a snapshot of the user's state and a Spanish explanation of what is missing.
 * The combinators `all`, `any` and `not` are built in. A kind nobody registered fails validation:
 * content can never name a condition that would silently pass.
 */

/**
 * What an evaluator may look at: a snapshot of the user taken once per update (no I/O in evaluators).
 * Modules that contribute kinds fill the fields they own; until gamification lands `items` and
 * `achievements` are empty.
 */
export interface ConditionState {
  /** users.status = 'vip'. */
  vip: boolean;
  /** Current balance (for explanations: "tienes 12"). */
  besitos: number;
  /** Highest story level the user has reached (0 before starting). */
  level: number;
  /** Keys of the fragments the user has completed. */
  completed: ReadonlySet<string>;
  /** Narrative flags currently set. */
  flags: ReadonlySet<string>;
  /** Subjects of premium unlocks the user has paid for (see `ConditionScope.subject`). */
  paid: ReadonlySet<string>;
  /** Item key → quantity owned. */
  items: ReadonlyMap<string, number>;
  /** Keys of the achievements unlocked. */
  achievements: ReadonlySet<string>;
}

/** What the condition guards, e.g. `fragment:camerino` or `level:3`: the key a premium payment is recorded under. */
export interface ConditionScope {
  subject: string;
  /** Display names for explanations ("Completa «El jardín»"); absent names fall back to generic words. */
  names?: {
    fragment?(key: string): string | undefined;
    level?(n: number): string | undefined;
    item?(key: string): string | undefined;
    achievement?(key: string): string | undefined;
  };
}

/** A condition as it appears in validated content. */
export type Condition = { kind: string } & Record<string, unknown>;

/** Things content refers to from conditions, so the linter can check they exist and can happen. */
export interface ConditionRefs {
  flags: string[];
  fragments: string[];
  levels: number[];
  items: string[];
  achievements: string[];
}

export interface ConditionKind<C extends Condition = Condition> {
  kind: string;
  /** The condition's fields, `kind` included (e.g. `z.object({ kind: z.literal('vip') })`). */
  schema: z.ZodType<C>;
  evaluate(c: C, state: ConditionState, scope: ConditionScope): boolean;
  /** Spanish, one short sentence: what the user lacks ("Necesitas ser VIP."). */
  explain(c: C, state: ConditionState, scope: ConditionScope): string;
  /** Spanish explanation when this condition is negated and holds (defaults to a generic sentence). */
  explainNot?(c: C, state: ConditionState, scope: ConditionScope): string;
  refs?(c: C): Partial<ConditionRefs>;
  /** A premium unlock: the price in besitos that, once paid for the scope's subject, makes it hold. */
  price?(c: C): number | null;
}

export type CheckResult = { ok: true } | { ok: false; missing: string[] };

const MAX_DEPTH = 8;

export class ConditionRegistry {
  private readonly kinds = new Map<string, ConditionKind<any>>();
  /** One schema for every store: validates any registered kind and the combinators, recursively. */
  readonly schema: z.ZodType<Condition>;

  constructor() {
    // Built on first use (lib/lazy.ts): a cold start whose update checks no condition does not pay for it.
    this.schema = lazy(() => {
      const self = this;
      const nested: z.ZodType<Condition> = z.lazy(() => self.schema);
      const combinators: Record<string, z.ZodType<Condition>> = {
        all: z.strictObject({ kind: z.literal('all'), of: z.array(nested).min(1).max(16) }),
        any: z.strictObject({ kind: z.literal('any'), of: z.array(nested).min(1).max(16) }),
        not: z.strictObject({ kind: z.literal('not'), condition: nested }),
      };
      return z.looseObject({ kind: z.string() }).transform((value, ctx) => {
        const schema = combinators[value.kind] ?? self.kinds.get(value.kind)?.schema;
        if (!schema) {
          const known = [...Object.keys(combinators), ...self.kinds.keys()].sort().join(', ');
          ctx.addIssue({ code: 'custom', path: ['kind'], message: `unknown condition kind "${value.kind}" (known: ${known})` });
          return z.NEVER;
        }
        const parsed = schema.safeParse(value);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
          return z.NEVER;
        }
        return parsed.data as Condition;
      });
    });
  }

  register<C extends Condition>(k: ConditionKind<C>): void {
    if (!/^[a-z][a-z0-9_]{0,40}$/.test(k.kind)) throw new Error(`bad condition kind "${k.kind}"`);
    if (['all', 'any', 'not'].includes(k.kind) || this.kinds.has(k.kind)) throw new Error(`condition kind "${k.kind}" registered twice`);
    this.kinds.set(k.kind, k as ConditionKind<any>);
  }

  has(kind: string): boolean {
    return ['all', 'any', 'not'].includes(kind) || this.kinds.has(kind);
  }

  /** Validates a condition (throws a ZodError naming every problem). */
  parse(raw: unknown): Condition {
    return this.schema.parse(raw);
  }

  private kind(kind: string): ConditionKind<any> {
    const k = this.kinds.get(kind);
    // Content is validated before it is evaluated; reaching this means unvalidated input: refuse, never pass.
    if (!k) throw new Error(`unknown condition kind "${kind}"`);
    return k;
  }

  evaluate(c: Condition, state: ConditionState, scope: ConditionScope, depth = 0): boolean {
    if (depth > MAX_DEPTH) throw new Error('condition nested too deeply');
    switch (c.kind) {
      case 'all':
        return (c.of as Condition[]).every((x) => this.evaluate(x, state, scope, depth + 1));
      case 'any':
        return (c.of as Condition[]).some((x) => this.evaluate(x, state, scope, depth + 1));
      case 'not':
        return !this.evaluate(c.condition as Condition, state, scope, depth + 1);
      default:
        return this.kind(c.kind).evaluate(c, state, scope);
    }
  }

  /** Whether the condition holds and, when not, what is missing in Spanish (one line each). */
  check(c: Condition | undefined, state: ConditionState, scope: ConditionScope): CheckResult {
    if (!c || this.evaluate(c, state, scope)) return { ok: true };
    return { ok: false, missing: this.missing(c, state, scope, 0) };
  }

  private missing(c: Condition, state: ConditionState, scope: ConditionScope, depth: number): string[] {
    switch (c.kind) {
      case 'all':
        return (c.of as Condition[]).filter((x) => !this.evaluate(x, state, scope)).flatMap((x) => this.missing(x, state, scope, depth + 1));
      case 'any': {
        const options = (c.of as Condition[]).map((x) => this.missing(x, state, scope, depth + 1).join(' '));
        return options.length === 1 ? options : [`Una de estas opciones: ${options.map((o) => `«${o}»`).join(' o ')}`];
      }
      case 'not': {
        const inner = c.condition as Condition;
        const k = this.kinds.get(inner.kind);
        if (k?.explainNot) return [k.explainNot(inner, state, scope)];
        return ['Este camino ya no está disponible para ti.'];
      }
      default:
        return [this.kind(c.kind).explain(c, state, scope)];
    }
  }

  /**
   * The besitos that would open the condition if paid now for `scope.subject` (a premium unlock),
   * or null when paying cannot open it (no price inside, or something else is missing too).
   */
  priceToUnlock(c: Condition | undefined, state: ConditionState, scope: ConditionScope): number | null {
    if (!c || this.evaluate(c, state, scope)) return null;
    const price = this.prices(c).sort((a, b) => a - b)[0];
    if (price === undefined) return null;
    const paid = new Set(state.paid).add(scope.subject);
    return this.evaluate(c, { ...state, paid }, scope) ? price : null;
  }

  private prices(c: Condition): number[] {
    switch (c.kind) {
      case 'all':
      case 'any':
        return (c.of as Condition[]).flatMap((x) => this.prices(x));
      case 'not':
        return [];
      default: {
        const p = this.kind(c.kind).price?.(c);
        return p == null ? [] : [p];
      }
    }
  }

  /** Every flag, fragment, level, item and achievement the condition mentions (for the linter). */
  refs(c: Condition | undefined): ConditionRefs {
    const out: ConditionRefs = { flags: [], fragments: [], levels: [], items: [], achievements: [] };
    const walk = (x: Condition) => {
      if (x.kind === 'all' || x.kind === 'any') return (x.of as Condition[]).forEach(walk);
      if (x.kind === 'not') return walk(x.condition as Condition);
      const r = this.kind(x.kind).refs?.(x) ?? {};
      for (const key of Object.keys(out) as (keyof ConditionRefs)[]) (out[key] as unknown[]).push(...((r[key] as unknown[]) ?? []));
    };
    if (c) walk(c);
    return out;
  }
}

/** A snapshot with nothing: a user who has not started (tests, defaults). */
export function emptyConditionState(over: Partial<ConditionState> = {}): ConditionState {
  return {
    vip: false,
    besitos: 0,
    level: 0,
    completed: new Set(),
    flags: new Set(),
    paid: new Set(),
    items: new Map(),
    achievements: new Set(),
    ...over,
  };
}
