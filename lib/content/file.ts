import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidContent, parseContent, type Content } from './schema.js';

/** The authoring format: every *.json under content/ (sub-folders included), merged into one model. */
export const DEFAULT_CONTENT_DIR = fileURLToPath(new URL('../../content/', import.meta.url));

export interface RawContent {
  /** The merged document, not yet validated. */
  raw: Record<string, unknown>;
  /** Which file each item came from: `origins.fragments[3]` = 'story/02-jardin.json'; `start` too. */
  origins: Record<string, string[]> & { start?: string[] };
  /** Problems reading the files (bad JSON, a second start …), with the file name. */
  problems: { file: string; message: string }[];
}

async function jsonFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await jsonFiles(p, base)));
    else if (e.name.endsWith('.json')) out.push(path.relative(base, p));
  }
  return out.sort();
}

/**
 * Reads the files and merges them: arrays (levels, fragments, trivia …) are concatenated by field
 * name in file order, `start` comes from whichever file sets it. Validation happens on the whole,
 * so references across files work.
 */
export async function readContentDir(dir = DEFAULT_CONTENT_DIR): Promise<RawContent> {
  const files = await jsonFiles(dir);
  const merged: Record<string, unknown> = {};
  const origins: RawContent['origins'] = {};
  const problems: RawContent['problems'] = [];
  if (files.length === 0) problems.push({ file: dir, message: 'no .json files' });
  for (const file of files) {
    let data: unknown;
    try {
      data = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    } catch (err) {
      problems.push({ file, message: `not valid JSON: ${(err as Error).message}` });
      continue;
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) {
      problems.push({ file, message: 'must hold a JSON object ({ "fragments": [ … ] …})' });
      continue;
    }
    for (const [field, value] of Object.entries(data)) {
      if (Array.isArray(value)) {
        const list = (merged[field] ??= []) as unknown[];
        if (!Array.isArray(list)) {
          problems.push({ file, message: `"${field}" is a list here and not elsewhere` });
          continue;
        }
        list.push(...value);
        (origins[field] ??= []).push(...value.map(() => file));
      } else if (field in merged && merged[field] !== value) {
        problems.push({ file, message: `"${field}" is set again (already set in ${origins[field]?.[0]})` });
      } else {
        merged[field] = value;
        origins[field] = [file];
      }
    }
  }
  return { raw: merged, origins, problems };
}

/** Reads and validates content/; throws InvalidContent naming every problem. */
export async function loadContentFromDir(dir = DEFAULT_CONTENT_DIR): Promise<Content> {
  const { raw, problems } = await readContentDir(dir);
  if (problems.length) throw new InvalidContent(dir, problems.map((p) => `${p.file}: ${p.message}`));
  return parseContent(raw, dir);
}
