import type { ContentIndex } from '../content/store.js';
import { catalogueSchema, indexCatalogue, type CatalogueIndex } from './catalogue.js';

/**
 * Where the catalogue comes from: the content model's missions, achievements and items sections,
 * i.e. the **active content version** (lib/content/versions.ts) — the same immutable versions the
 * story plays, published by `npm run content:import` from content/gamification/*.json beside the
 * story and validated by the same schema and linter (`npm run lint:story`). Nothing reads the files
 * at run time.
 */

export class InvalidCatalogue extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid gamification content in ${source}: ${problems.join('; ')}`);
    this.name = 'InvalidCatalogue';
  }
}

/** Validates a catalogue (missions, achievements, items) on its own: tests and benchmarks. */
export function parseCatalogue(value: unknown, source = 'catalogue'): CatalogueIndex {
  const result = catalogueSchema.safeParse(value);
  if (!result.success) throw new InvalidCatalogue(source, result.error.issues.map((i) => `${i.path.join('.') || '(catálogo)'}: ${i.message}`));
  return indexCatalogue(result.data);
}

const byVersion = new WeakMap<ContentIndex, CatalogueIndex>();

/** The catalogue of one content version (already validated with it), indexed once per version. */
export function catalogueOf(content: ContentIndex): CatalogueIndex {
  let c = byVersion.get(content);
  if (!c) {
    const { missions, achievements, items } = content.content;
    c = indexCatalogue({ missions, achievements, items });
    byVersion.set(content, c);
  }
  return c;
}

/**
 * The catalogue in force: `activeVersionId` is the active version id the caller already read (the
 * update's state load, the subscriber's lock statement), so an unchanged version costs no round trip.
 */
export type CatalogueSource = (activeVersionId?: number | null) => Promise<CatalogueIndex>;

/** The catalogue of the published versions, through the story's content cache (lib/narrative StoryContent). */
export function versionedCatalogue(story: { current(activeVersionId?: number | null): Promise<ContentIndex> }): CatalogueSource {
  return async (v) => catalogueOf(await story.current(v));
}

/** One fixed catalogue whatever the version (tests of other modules, benchmarks). */
export function fixedCatalogue(c: CatalogueIndex | (() => CatalogueIndex)): CatalogueSource {
  return async () => (typeof c === 'function' ? c() : c);
}
