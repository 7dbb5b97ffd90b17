import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidContent, parseStory, type Story } from './schema.js';
import { inMemoryContentStore, type ContentStore } from './store.js';

export const DEFAULT_CONTENT_DIR = fileURLToPath(new URL('../../content/story/', import.meta.url));

/**
 * Reads every *.json in the directory and merges them into one story: `start` from whichever file
 * sets it, fragments and trivia concatenated. Validated as a whole, so cross-file references work.
 */
export async function loadStoryFromDir(dir = DEFAULT_CONTENT_DIR): Promise<Story> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new InvalidContent(dir, ['no .json files']);
  const merged: { start?: string; fragments: unknown[]; trivia: unknown[] } = { fragments: [], trivia: [] };
  for (const file of files) {
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    } catch (err) {
      throw new InvalidContent(file, [`not valid JSON: ${(err as Error).message}`]);
    }
    if (typeof data.start === 'string') {
      if (merged.start && merged.start !== data.start) throw new InvalidContent(file, [`a second start fragment "${data.start}"`]);
      merged.start = data.start;
    }
    if (Array.isArray(data.fragments)) merged.fragments.push(...data.fragments);
    if (Array.isArray(data.trivia)) merged.trivia.push(...data.trivia);
  }
  return parseStory(merged, dir);
}

export async function createFileContentStore(dir = DEFAULT_CONTENT_DIR): Promise<ContentStore> {
  return inMemoryContentStore(await loadStoryFromDir(dir), 'file');
}
