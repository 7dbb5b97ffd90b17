import type { Sql } from '../db/client.js';
import { createContentStore } from './index.js';
import { DEFAULT_CONTENT_DIR, loadContentFromDir } from './file.js';
import { lintContentDir } from './lint.js';
import { InvalidContent } from './schema.js';
import { publishContent, type PublishResult } from './versions.js';

/**
 * `npm run content:import`, the dev/start server and the test template: validates content/ and
 * publishes it as a new active version in the configured store (MongoDB when MONGODB_URL is set,
 * Postgres otherwise). Idempotent by hash: unchanged files publish nothing.
 * Throws InvalidContent (listing every problem) when the files are not valid or the linter finds errors.
 */
export async function importContent(db: Sql, cfg: { MONGODB_URL?: string }, dir = DEFAULT_CONTENT_DIR): Promise<PublishResult> {
  // The linter's errors (unreachable fragments, dead ends, economy …) block a publish like schema errors.
  const errors = (await lintContentDir(dir)).filter((p) => p.severity === 'error');
  if (errors.length) throw new InvalidContent(dir, errors.map((p) => `${p.file}  ${p.where}: ${p.message}`));
  const content = await loadContentFromDir(dir);
  const store = await createContentStore(cfg, db);
  try {
    return await publishContent(db, store, content);
  } finally {
    await store.close?.();
  }
}

/** One line for logs and the terminal, in Spanish. */
export function describeImport(r: PublishResult): string {
  const v = `versión ${r.version.id} (${r.version.hash.slice(0, 12)})`;
  if (r.published) return `Contenido publicado y activado: ${v}.`;
  if (r.activated) return `Contenido sin cambios; se reactivó la ${v}.`;
  return `Contenido sin cambios: la ${v} ya está activa; no se publicó nada.`;
}
