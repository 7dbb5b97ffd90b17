import { createHash } from 'node:crypto';
import type { Condition, ConditionScope } from '../conditions/registry.js';
import type { Content, Fragment, Level, Trivia } from './schema.js';

/**
 * One version of the content, indexed for the bot: synchronous lookups, so the engine's pure rules
 * can take it as an argument. Built once per version and cached by the instance.
 */
export class ContentIndex {
  readonly start: string;
  private readonly fragments: Map<string, Fragment>;
  private readonly levels: Map<number, Level>;
  private readonly trivia: Map<string, Trivia>;
  private readonly byLevel = new Map<number, Fragment[]>();

  constructor(readonly content: Content, readonly version: { id: number | null; hash: string } = { id: null, hash: contentHash(content) }) {
    this.start = content.start;
    this.fragments = new Map(content.fragments.map((f) => [f.key, f]));
    this.levels = new Map([...content.levels].sort((a, b) => a.number - b.number).map((l) => [l.number, l]));
    this.trivia = new Map(content.trivia.map((t) => [t.key, t]));
    for (const f of content.fragments) {
      const list = this.byLevel.get(f.level) ?? [];
      list.push(f);
      this.byLevel.set(f.level, list);
    }
  }

  fragment(key: string): Fragment | null {
    return this.fragments.get(key) ?? null;
  }
  /** Levels by number, ascending. */
  listLevels(): Level[] {
    return [...this.levels.values()];
  }
  level(n: number): Level | null {
    return this.levels.get(n) ?? null;
  }
  /** A level's fragments in authoring order (the first is the level's entry point). */
  fragmentsOf(level: number): Fragment[] {
    return this.byLevel.get(level) ?? [];
  }
  listFragments(): Fragment[] {
    return this.content.fragments;
  }
  triviaQuestion(key: string): Trivia | null {
    return this.trivia.get(key) ?? null;
  }
  listTrivia(): Trivia[] {
    return this.content.trivia;
  }
  /** What opens a level: its `unlock` and, for a VIP level, VIP status (both must hold). */
  levelUnlock(n: number): Condition | undefined {
    const l = this.levels.get(n);
    if (!l) return undefined;
    const parts: Condition[] = [...(l.vip ? [{ kind: 'vip' }] : []), ...(l.unlock ? [l.unlock] : [])];
    return parts.length > 1 ? { kind: 'all', of: parts } : parts[0];
  }
  /** Display names for condition explanations (see ConditionScope.names). */
  readonly names: NonNullable<ConditionScope['names']> = {
    fragment: (key) => this.fragments.get(key)?.title,
    level: (n) => this.levels.get(n)?.title,
  };
}

/** Canonical JSON (object keys sorted) so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** sha256 of the validated content (defaults applied), hex: the version's identity. */
export function contentHash(content: Content): string {
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

/**
 * Where published versions' content is kept, by hash: Postgres JSONB (lib/content/postgres.ts, the
 * embedded default) or MongoDB (lib/content/mongo.ts, when MONGODB_URL is set). Versions are
 * immutable: `put` of a hash already stored changes nothing. Which version is active is always one
 * Postgres row (lib/content/versions.ts), whatever the store.
 */
export interface ContentStore {
  readonly kind: 'postgres' | 'mongodb';
  /** Stores a version's content; false when that hash was already stored (nothing written). */
  put(hash: string, content: Content): Promise<boolean>;
  /** The content of a stored version, validated; null when the hash is unknown. */
  get(hash: string): Promise<Content | null>;
  close?(): Promise<void>;
}
