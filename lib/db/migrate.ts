import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Sql } from './client.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
// Any constant works; it only has to be the same for every deploy of this app.
const MIGRATION_LOCK_ID = 7_303_020_241;

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies each sql/NNN_*.sql once, in name order, each in its own transaction, under a session
 * advisory lock so that two deploys starting together apply them one after the other.
 */
export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const reserved = await sql.reserve();
  try {
    await reserved`SELECT pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    await reserved`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`;
    const rows = await reserved<{ name: string; checksum: string }[]>`SELECT name, checksum FROM schema_migrations`;
    const done = new Map(rows.map((r) => [r.name, r.checksum]));
    const applied: string[] = [];
    for (const file of files) {
      const text = await readFile(path.join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(text).digest('hex');
      const previous = done.get(file);
      if (previous) {
        if (previous !== checksum) {
          console.warn(JSON.stringify({ msg: 'migration changed after it was applied', file }));
        }
        continue;
      }
      await reserved.unsafe('BEGIN');
      try {
        await reserved.unsafe(text);
        await reserved`INSERT INTO schema_migrations (name, checksum) VALUES (${file}, ${checksum})`;
        await reserved.unsafe('COMMIT');
      } catch (err) {
        await reserved.unsafe('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(file);
    }
    return { applied, alreadyApplied: done.size };
  } finally {
    await reserved`SELECT pg_advisory_unlock(${MIGRATION_LOCK_ID})`.catch(() => {});
    reserved.release();
  }
}
