import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../../lib/db/client.js';
import { RetryTransaction, withPipelinedTransaction } from '../../lib/db/transaction.js';
import { isolatedDatabase } from '../support/bus.js';

// withPipelinedTransaction sends BEGIN and COMMIT by hand on a reserved connection: what sql.begin
// does for us otherwise (rollback on failure, the connection back in the pool, a closed one not) is tested here.
const url = await isolatedDatabase();
const db = createDb(url, { max: 3 });
afterAll(() => db.end({ timeout: 5 }));
await db`CREATE TABLE IF NOT EXISTS pipelined_t (k text PRIMARY KEY, n int NOT NULL DEFAULT 0)`;

const value = async (k: string) => (await db<{ n: number }[]>`SELECT n FROM pipelined_t WHERE k = ${k}`)[0]?.n ?? null;

describe('withPipelinedTransaction', () => {
  it('commits what fn awaited and what it handed to commitWith, atomically', async () => {
    const r = await withPipelinedTransaction(db, async (tx, commitWith) => {
      await tx`INSERT INTO pipelined_t (k) VALUES ('a')`;
      commitWith(tx`UPDATE pipelined_t SET n = n + 1 WHERE k = 'a'`, tx`INSERT INTO pipelined_t (k, n) VALUES ('b', 5)`);
      return 'done';
    });
    expect(r).toBe('done');
    expect([await value('a'), await value('b')]).toEqual([1, 5]);
  });

  it('is one transaction: another connection sees nothing before the commit', async () => {
    let seenInside: number | null = -1;
    await withPipelinedTransaction(db, async (tx, commitWith) => {
      await tx`INSERT INTO pipelined_t (k, n) VALUES ('iso', 1)`;
      seenInside = await value('iso');
      commitWith(tx`UPDATE pipelined_t SET n = 2 WHERE k = 'iso'`);
    });
    expect(seenInside).toBeNull();
    expect(await value('iso')).toBe(2);
  });

  it('a failing handed-over write rolls everything back and throws its own error (not the 25P02 behind it)', async () => {
    await expect(
      withPipelinedTransaction(db, async (tx, commitWith) => {
        await tx`INSERT INTO pipelined_t (k) VALUES ('c')`;
        commitWith(tx`SELECT 1 / 0`, tx`INSERT INTO pipelined_t (k) VALUES ('d')`);
      }),
    ).rejects.toThrow(/division by zero/);
    expect([await value('c'), await value('d')]).toEqual([null, null]);
  });

  it('fn throwing rolls back; the connection goes back to the pool usable (more runs than connections)', async () => {
    await expect(
      withPipelinedTransaction(db, async (tx) => {
        await tx`INSERT INTO pipelined_t (k) VALUES ('e')`;
        throw new Error('nope');
      }),
    ).rejects.toThrow('nope');
    expect(await value('e')).toBeNull();
    // 30 transactions over 3 connections: each was released (else this waits forever) and none is left inside a transaction.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        withPipelinedTransaction(db, async (tx, commitWith) => {
          commitWith(tx`INSERT INTO pipelined_t (k, n) VALUES (${`many${i}`}, ${i})`);
        }),
      ),
    );
    const [row] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM pipelined_t WHERE k LIKE 'many%'`;
    expect(row!.n).toBe(30);
    // None of the pool's connections was left inside a transaction.
    const [idle] = await db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`;
    expect(idle!.n).toBe(0);
  });

  it('runs again on RetryTransaction and on a serialization failure, with the attempt number', async () => {
    const attempts: number[] = [];
    await withPipelinedTransaction(db, async (tx, commitWith, attempt) => {
      attempts.push(attempt);
      commitWith(tx`INSERT INTO pipelined_t (k, n) VALUES ('retry', ${attempt}) ON CONFLICT (k) DO UPDATE SET n = excluded.n`);
      if (attempt === 1) throw new RetryTransaction('again');
    });
    expect(attempts).toEqual([1, 2]);
    expect(await value('retry')).toBe(2);
    // A handed-over write that fails with a serialization failure (40001) is retried too.
    const seen: number[] = [];
    await withPipelinedTransaction(db, async (tx, commitWith, attempt) => {
      seen.push(attempt);
      commitWith(attempt === 1 ? tx`SELECT ledger_abort_if(true, 'race')` : tx`SELECT 1`);
    });
    expect(seen).toEqual([1, 2]);
    // Even when the statements refused behind it (25P02) reject first (it is wrapped in async hops):
    // the failure's own code decides, and it is retried.
    const later: number[] = [];
    const slow = async (q: PromiseLike<unknown>) => {
      await null;
      await null;
      return q;
    };
    await withPipelinedTransaction(db, async (tx, commitWith, attempt) => {
      later.push(attempt);
      commitWith(slow(attempt === 1 ? tx`SELECT ledger_abort_if(true, 'race')` : tx`SELECT 1`), tx`SELECT 2`, tx`SELECT 3`);
    });
    expect(later).toEqual([1, 2]);
  });

  it('tx.savepoint undoes only what failed inside it, as in sql.begin', async () => {
    await withPipelinedTransaction(db, async (tx, commitWith) => {
      await tx`INSERT INTO pipelined_t (k) VALUES ('sp-outer')`;
      await expect(
        tx.savepoint(async (sp) => {
          await sp`INSERT INTO pipelined_t (k) VALUES ('sp-inner')`;
          await sp`SELECT 1 / 0`;
        }),
      ).rejects.toThrow(/division by zero/);
      expect(await tx.savepoint(async (sp) => (await sp`INSERT INTO pipelined_t (k) VALUES ('sp-kept') RETURNING k`)[0]!.k)).toBe('sp-kept');
      commitWith(tx`UPDATE pipelined_t SET n = 1 WHERE k = 'sp-outer'`);
    });
    expect([await value('sp-outer'), await value('sp-inner'), await value('sp-kept')]).toEqual([1, null, 0]);
  });

  it('a backend killed mid-transaction: the run fails, nothing commits, and the pool keeps serving', async () => {
    await expect(
      withPipelinedTransaction(db, async (tx, commitWith) => {
        await tx`INSERT INTO pipelined_t (k) VALUES ('killed')`;
        const [me] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        await db`SELECT pg_terminate_backend(${me!.pid})`;
        commitWith(tx`UPDATE pipelined_t SET n = 1 WHERE k = 'killed'`);
      }, 1),
    ).rejects.toThrow();
    expect(await value('killed')).toBeNull();
    // Every connection of the pool answers (a dead one handed back to the pool would fail here).
    for (let i = 0; i < 3; i++) {
      const rows = await Promise.all(Array.from({ length: 6 }, () => withPipelinedTransaction(db, async (tx) => tx<{ one: number }[]>`SELECT 1 AS one`)));
      expect(rows.every((r) => r[0]!.one === 1)).toBe(true);
    }
  });
});
