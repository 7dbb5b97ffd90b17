export * from './schema.js';
export { ContentIndex, contentHash, canonicalJson, type ContentStore } from './store.js';
export { loadContentFromDir, readContentDir, DEFAULT_CONTENT_DIR } from './file.js';
