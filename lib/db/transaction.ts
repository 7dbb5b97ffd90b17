import type postgres from 'postgres';
import type { Queryable, Sql } from './client.js';
import { isTransientDbError } from './errors.js';

/** Thrown inside a transaction to make withTransaction run it again from the start. */
export class RetryTransaction extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RetryTransaction';
  }
}

function isSql(db: Queryable): db is Sql {
  return typeof (db as Sql).begin === 'function';
}

/**
 * Runs fn in a transaction. With a pool, opens one and retries deadlocks, serialization failures and
 * RetryTransaction a few times; inside an existing transaction, runs fn there (the caller owns retries).
 */
export async function withTransaction<T>(
  db: Queryable,
  fn: (tx: postgres.TransactionSql<{}>) => Promise<T>,
  attempts = 4,
): Promise<T> {
  if (!isSql(db)) return fn(db as postgres.TransactionSql<{}>);
  for (let attempt = 1; ; attempt++) {
    try {
      return (await db.begin((tx) => fn(tx))) as T;
    } catch (err) {
      const retryable =
        err instanceof RetryTransaction ||
        (isTransientDbError(err) && ['40001', '40P01'].includes((err as { code: string }).code));
      if (!retryable || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 2 ** attempt + Math.random() * 5));
    }
  }
}
