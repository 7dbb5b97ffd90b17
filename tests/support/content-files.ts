import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Writes content files (objects are JSON-encoded, strings written as they are) to a temporary folder for the test. */
export async function withContentDir(files: Record<string, unknown>, fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-content-'));
  try {
    for (const [name, data] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), typeof data === 'string' ? data : JSON.stringify(data));
    }
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
