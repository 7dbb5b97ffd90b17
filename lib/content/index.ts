import type { Queryable } from '../db/client.js';
import type { ContentStore } from './store.js';

export * from './schema.js';
export { ContentIndex, contentHash, canonicalJson, type ContentStore } from './store.js';
export { loadContentFromDir, readContentDir, DEFAULT_CONTENT_DIR } from './file.js';
export { ContentCache, NoActiveContent, activateVersion, activeVersionId, publishContent, type ContentVersion, type PublishResult } from './versions.js';
export { relocate, type Relocation } from './relocate.js';

/** Where versions' content is kept: MongoDB when MONGODB_URL is set, otherwise Postgres JSONB (the default). */
export async function createContentStore(cfg: { MONGODB_URL?: string }, db: Queryable): Promise<ContentStore> {
  if (cfg.MONGODB_URL) {
    const { createMongoContentStore } = await import('./mongo.js');
    return createMongoContentStore(cfg.MONGODB_URL);
  }
  const { createPostgresContentStore } = await import('./postgres.js');
  return createPostgresContentStore(db);
}
