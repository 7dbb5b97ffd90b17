import { afterAll } from 'vitest';
import { createDb, type Sql } from '../../lib/db/client.js';

/** This test file's own database (a copy of the run's migrated template, see file-database.ts). */
export function testDatabaseUrl(): string {
  const url = (globalThis as { __dianabotTestDatabaseUrl?: string }).__dianabotTestDatabaseUrl;
  if (!url) throw new Error('no test database: tests/support/file-database.ts must run as a vitest setup file');
  return url;
}

/** A pool on this file's test database, closed after the file's tests. */
export function useTestDb(max = 10): Sql {
  const db = createDb(testDatabaseUrl(), { max });
  afterAll(() => db.end({ timeout: 5 }));
  return db;
}

/** A Telegram-like user id, random so that parallel test files and reruns never collide. */
export function uniqueTelegramId(): number {
  return 100_000_000_000 + Math.floor(Math.random() * 800_000_000_000);
}
