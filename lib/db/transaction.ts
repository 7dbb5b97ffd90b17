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
  fn: (tx: postgres.TransactionSql<{}>, attempt: number) => Promise<T>,
  attempts = 4,
): Promise<T> {
  if (!isSql(db)) return fn(db as postgres.TransactionSql<{}>, 1);
  for (let attempt = 1; ; attempt++) {
    try {
      return (await db.begin((tx) => fn(tx, attempt))) as T;
    } catch (err) {
      await retryOrThrow(err, attempt, attempts);
    }
  }
}

/** A serialization failure, a deadlock or RetryTransaction is run again (after a short backoff) while attempts last. */
async function retryOrThrow(err: unknown, attempt: number, attempts: number): Promise<void> {
  const retryable =
    err instanceof RetryTransaction ||
    (isTransientDbError(err) && ['40001', '40P01'].includes((err as { code: string }).code));
  if (!retryable || attempt >= attempts) throw err;
  await new Promise((r) => setTimeout(r, 2 ** attempt + Math.random() * 5));
}

/** Statements a pipelined transaction sends with its COMMIT (see withPipelinedTransaction). */
export type CommitWith = (...writes: PromiseLike<unknown>[]) => void;

/** The pool's connection object as a query's `onexecute` option sees it (postgres.js internals, 3.4). */
interface PoolConnection {
  reserved: unknown;
  onclose?: ((err: unknown) => void) | null;
}

/**
 * Like withTransaction, two round trips fewer: BEGIN goes out in the same write as fn's first
 * statements (sql.begin awaits BEGIN before it runs fn), and COMMIT in the same write as the
 * statements fn handed to `commitWith` and did not await (sql.begin sends COMMIT once fn's last
 * statement came back). If one of those fails, the transaction is aborted, COMMIT answers ROLLBACK,
 * and the statement's error is thrown (retried like withTransaction's). `attempt` counts from 1.
 *
 * Runs on a reserved pool connection (sql.reserve) with BEGIN/COMMIT/ROLLBACK sent by hand; the
 * connection is captured only to know whether it closed meanwhile (then it is not handed back to the
 * pool, which reconnects it) and to fail a statement queued behind a closed connection, as sql.begin does.
 */
export async function withPipelinedTransaction<T>(
  db: Sql,
  fn: (tx: postgres.TransactionSql<{}>, commitWith: CommitWith, attempt: number) => Promise<T>,
  attempts = 4,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pipelinedOnce(db, fn, attempt);
    } catch (err) {
      await retryOrThrow(err, attempt, attempts);
    }
  }
}

/** sql.begin's `tx.savepoint(fn)` on a connection where BEGIN was sent by hand: fn's failure undoes fn's statements only. */
function savepointOn(reserved: postgres.ReservedSql<{}>) {
  let count = 0;
  return async (nameOrFn: unknown, maybeFn?: unknown) => {
    const fn = (typeof nameOrFn === 'function' ? nameOrFn : maybeFn) as (sql: unknown) => Promise<unknown>;
    const name = `s${++count}`;
    await reserved.unsafe(`SAVEPOINT ${name}`);
    try {
      return await fn(reserved);
    } catch (err) {
      await reserved.unsafe(`ROLLBACK TO SAVEPOINT ${name}`);
      throw err;
    }
  };
}

async function pipelinedOnce<T>(db: Sql, fn: (tx: postgres.TransactionSql<{}>, commitWith: CommitWith, attempt: number) => Promise<T>, attempt: number): Promise<T> {
  const reserved = await db.reserve();
  let connection: PoolConnection | undefined;
  let closed: (err: unknown) => void = () => {};
  const lost = new Promise<never>((_, reject) => (closed = reject));
  lost.catch(() => {});
  const began = reserved.unsafe('BEGIN', [], {
    onexecute: (c: PoolConnection) => {
      connection = c;
      c.onclose = closed;
      return true;
    },
  } as never);
  began.catch(() => {});
  // A reserved client has no `begin`: lib/db and lib/besitos treat it as an open transaction.
  const tx = Object.assign(reserved, { savepoint: savepointOn(reserved) }) as unknown as postgres.TransactionSql<{}>;
  const tail: PromiseLike<unknown>[] = [];
  const commitWith: CommitWith = (...writes) => {
    for (const w of writes) {
      // Awaited below; a second failure behind the first (25P02) is not an unhandled rejection.
      Promise.resolve(w).catch(() => {});
      tail.push(w);
    }
  };
  try {
    const result = await Promise.race([fn(tx, commitWith, attempt), lost]);
    const commit = reserved`COMMIT`;
    commit.catch(() => {});
    const settled = await Promise.race([Promise.allSettled([began, ...tail]), lost]);
    // The statement that failed, not those behind it that the aborted transaction refused (25P02),
    // whichever rejected first: its code decides the retry (as sql.begin does).
    const failed = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code?: string }] : []));
    if (failed.length) throw failed.find((e) => e?.code !== '25P02') ?? failed[0];
    const [done] = await Promise.race([commit.then((r) => [r]), lost]);
    // COMMIT of an aborted transaction rolls back without an error; a failed statement threw above.
    if ((done as { command?: string }).command !== 'COMMIT') throw new Error(`transaction ended with ${(done as { command?: string }).command}`);
    return result;
  } catch (err) {
    await Promise.race([reserved`ROLLBACK`, lost]).catch(() => {});
    throw err;
  } finally {
    // After a close the pool owns the connection again (it reconnects it); releasing it would hand out a dead one.
    if (connection) connection.onclose = null;
    if (!connection || connection.reserved) reserved.release();
  }
}
