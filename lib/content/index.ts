import type { ContentStore } from './store.js';

export * from './schema.js';
export type { ContentStore } from './store.js';

/** MongoDB when MONGODB_URL is set, otherwise the files in content/story. */
export async function createContentStore(cfg: { MONGODB_URL?: string }): Promise<ContentStore> {
  if (cfg.MONGODB_URL) {
    const { createMongoContentStore } = await import('./mongo.js');
    return createMongoContentStore(cfg.MONGODB_URL);
  }
  const { createFileContentStore } = await import('./file.js');
  return createFileContentStore();
}
