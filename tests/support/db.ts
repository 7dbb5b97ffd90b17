import { inject, afterAll } from 'vitest';
import { createDb, type Sql } from '../../lib/db/client.js';

/** A pool on the run's test database, closed after the file's tests. */
export function useTestDb(max = 10): Sql {
  const db = createDb(inject('databaseUrl'), { max });
  afterAll(() => db.end({ timeout: 5 }));
  return db;
}

/** A Telegram-like user id, random so that parallel test files and reruns never collide. */
export function uniqueTelegramId(): number {
  return 100_000_000_000 + Math.floor(Math.random() * 800_000_000_000);
}
