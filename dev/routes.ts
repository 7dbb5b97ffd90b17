import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { VercelHandler } from './vercel-adapter.js';

export const API_DIR = fileURLToPath(new URL('../api/', import.meta.url));

const SEGMENT = /^[A-Za-z0-9_.-]+$/;
const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/**
 * Maps a request path to its function file the way Vercel's zero-config routing does for plain
 * files: /api/a/b → api/a/b.ts (or api/a/b/index.ts). Resolved on every request, so a function added
 * to api/ (api/events/*.ts, api/cron/*.ts …) is served without touching the server.
 * Files and folders starting with _ or . are not functions (Vercel's rule too).
 */
export function resolveApiFile(pathname: string, apiDir = API_DIR): string | null {
  if (!pathname.startsWith('/api/')) return null;
  const rel = pathname.slice('/api/'.length).replace(/\/+$/, '');
  const segments = rel === '' ? [] : rel.split('/');
  if (segments.some((s) => !SEGMENT.test(s) || s.startsWith('.') || s.startsWith('_'))) return null;
  const base = path.join(apiDir, ...segments);
  if (!base.startsWith(path.resolve(apiDir))) return null;
  for (const ext of EXTENSIONS) {
    const file = base + ext;
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  for (const ext of EXTENSIONS) {
    const file = path.join(base, `index${ext}`);
    if (existsSync(file)) return file;
  }
  return null;
}

/** Every function under api/, as the route it is served on (for the start-up summary and tests). */
export async function listApiRoutes(apiDir = API_DIR): Promise<{ route: string; file: string }[]> {
  const out: { route: string; file: string }[] = [];
  async function walk(dir: string, prefix: string) {
    if (!existsSync(dir)) return;
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, `${prefix}/${entry.name}`);
      else {
        const ext = EXTENSIONS.find((e) => entry.name.endsWith(e) && !entry.name.endsWith(`.d${e}`));
        if (!ext || /\.(test|spec)\./.test(entry.name)) continue;
        const name = entry.name.slice(0, -ext.length);
        out.push({ route: name === 'index' ? prefix || '/api' : `${prefix}/${name}`, file: full });
      }
    }
  }
  await walk(apiDir, '/api');
  return out;
}

/** The default export of a function file (the module cache makes this one import per file). */
export async function loadHandler(file: string): Promise<VercelHandler> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new Error(`${path.relative(process.cwd(), file)} has no default-exported handler function`);
  }
  return mod.default as VercelHandler;
}
