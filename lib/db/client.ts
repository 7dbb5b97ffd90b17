import postgres from 'postgres';

export type Sql = postgres.Sql<{}>;
/** A connection or an open transaction: ledger functions accept either. */
export type Queryable = postgres.Sql<{}> | postgres.TransactionSql<{}>;

export interface DbOptions {
  max?: number;
  /** Serverless functions keep few idle connections; Postgres closes them anyway. */
  idleTimeoutSeconds?: number;
  /** Called with the text of every statement sent (the per-update budget test and BENCH_COUNT_IO count them). */
  onQuery?: (query: string) => void;
}

export function createDb(url: string, opts: DbOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    idle_timeout: opts.idleTimeoutSeconds ?? 20,
    connect_timeout: 10,
    // The default reconnect backoff grows to 20 s and is shared by the pool: after a failover or a
    // killed backend, webhook requests waited ~20 s (tests/fault/db-kill, FAULT_KILL_STORM). Cap it at 1 s.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    onnotice: () => {},
    types: {
      // int8 ids and amounts come back as JS numbers: every value we store stays far below 2^53.
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
    transform: { undefined: null },
    ...(opts.onQuery ? { debug: (_connection: number, query: string) => opts.onQuery!(query) } : {}),
  });
}
