import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalogueSchema, indexCatalogue, type CatalogueIndex } from './catalogue.js';

export const DEFAULT_CATALOGUE_DIR = fileURLToPath(new URL('../../content/gamification/', import.meta.url));

export class InvalidCatalogue extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid gamification content in ${source}: ${problems.join('; ')}`);
    this.name = 'InvalidCatalogue';
  }
}

/** Validates a catalogue (missions, achievements, items) as a whole. */
export function parseCatalogue(value: unknown, source = 'catalogue'): CatalogueIndex {
  const result = catalogueSchema.safeParse(value);
  if (!result.success) throw new InvalidCatalogue(source, result.error.issues.map((i) => `${i.path.join('.') || '(catálogo)'}: ${i.message}`));
  return indexCatalogue(result.data);
}

/** Reads every *.json of the directory and merges their missions, achievements and items. */
export function loadCatalogueFromDir(dir = DEFAULT_CATALOGUE_DIR): CatalogueIndex {
  const merged = { missions: [] as unknown[], achievements: [] as unknown[], items: [] as unknown[] };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    } catch (err) {
      throw new InvalidCatalogue(file, [`not valid JSON: ${(err as Error).message}`]);
    }
    for (const section of ['missions', 'achievements', 'items'] as const) {
      const list = data[section];
      if (Array.isArray(list)) merged[section].push(...list);
    }
  }
  return parseCatalogue(merged, dir);
}

let cached: CatalogueIndex | undefined;

/** The catalogue in content/gamification, read once per process. */
export function defaultCatalogue(): CatalogueIndex {
  cached ??= loadCatalogueFromDir();
  return cached;
}
