import type { Queryable, Sql } from '../db/client.js';
import { triggerInsert } from './triggers.js';

/** A job as a runner claimed it. */
export interface ClaimedJob {
  id: number;
  kind: string;
  key: string;
  payload: unknown;
  due_at: Date;
  attempts: number;
  lease_id: string;
}

export interface NewJob {
  kind: string;
  key: string;
  dueAt: Date;
  payload: unknown;
}

/**
 * One statement: the job and its trigger (lib/scheduler/triggers.ts); an existing key (whatever its
 * state) makes it a no-op. True when the job was created.
 */
export async function insertJob(tx: Queryable, job: NewJob): Promise<boolean> {
  const rows = await tx`
    WITH job AS (
      INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at)
      VALUES (${job.kind}, ${job.key}, ${tx.json(job.payload as never)}, ${job.dueAt}, ${job.dueAt})
      ON CONFLICT (key) DO NOTHING
      RETURNING id
    ), trigger AS (${triggerInsert(tx, 'job', job.key, job.dueAt)})
    SELECT id FROM job`;
  return rows.length === 1;
}

/**
 * Moves a job that has not run yet (pending, claimed, failed or cancelled) to a new time, with a fresh
 * attempt budget; a claimed run loses its lease and cannot complete. A job that already ran is left alone.
 */
export async function moveJob(tx: Queryable, job: { key: string; dueAt: Date; kind?: string; payload?: unknown }): Promise<boolean> {
  const rows = await tx`
    WITH job AS (
      UPDATE scheduled_jobs
         SET due_at = ${job.dueAt}, run_at = ${job.dueAt}, state = 'pending', attempts = 0, lease_id = NULL,
             last_error = NULL, finished_at = NULL, updated_at = now(),
             payload = ${job.payload === undefined ? tx`payload` : tx`${tx.json(job.payload as never)}`}
       WHERE key = ${job.key} AND state <> 'done' ${job.kind === undefined ? tx`` : tx`AND kind = ${job.kind}`}
      RETURNING id
    ), trigger AS (${triggerInsert(tx, 'job', job.key, job.dueAt)})
    SELECT id FROM job`;
  return rows.length === 1;
}

/** Cancels a job that has not run yet; a claimed run loses its lease. True when something was cancelled. */
export async function cancelJob(tx: Queryable, key: string): Promise<boolean> {
  const rows = await tx`
    UPDATE scheduled_jobs SET state = 'cancelled', lease_id = NULL, finished_at = now(), updated_at = now()
     WHERE key = ${key} AND state IN ('pending', 'running', 'failed')
    RETURNING id`;
  return rows.length === 1;
}

/**
 * Claims up to `limit` due jobs (pending and due, or running with an expired lease) in one statement:
 * each gets a new lease id, one more attempt and run_at = the end of its lease, so concurrent runners
 * skip it (SKIP LOCKED while the statement runs, the lease afterwards).
 */
export async function claimDue(db: Sql, now: Date, leaseSeconds: number, limit: number, key?: string): Promise<ClaimedJob[]> {
  return db<ClaimedJob[]>`
    UPDATE scheduled_jobs j
       SET state = 'running', lease_id = gen_random_uuid(), attempts = j.attempts + 1,
           run_at = ${now}::timestamptz + ${leaseSeconds} * interval '1 second', updated_at = ${now}
      FROM (SELECT id FROM scheduled_jobs
             WHERE state IN ('pending', 'running') AND run_at <= ${now} ${key === undefined ? db`` : db`AND key = ${key}`}
             ORDER BY run_at, id
             LIMIT ${limit}
               FOR UPDATE SKIP LOCKED) c
     WHERE j.id = c.id
    RETURNING j.id, j.kind, j.key, j.payload, j.due_at, j.attempts, j.lease_id::text AS lease_id`;
}

/**
 * First statement of a run's transaction: marks the job done if this runner still holds its lease,
 * and locks the row until the handler's effect commits with it. False: the lease was lost.
 */
export async function completeJob(tx: Queryable, job: ClaimedJob, now: Date, blankPayload = false): Promise<boolean> {
  const rows = await tx`
    UPDATE scheduled_jobs SET state = 'done', lease_id = NULL, last_error = NULL, finished_at = ${now}, updated_at = ${now},
           payload = CASE WHEN ${blankPayload} THEN '{}'::jsonb ELSE payload END
     WHERE id = ${job.id} AND lease_id = ${job.lease_id} AND state = 'running'
    RETURNING id`;
  return rows.length === 1;
}

/** A failed run: back to pending at `retryAt` (with a trigger for then), or failed for good when `retryAt` is null. */
export async function recordFailure(db: Sql, job: ClaimedJob, now: Date, error: string, retryAt: Date | null, blankPayload = false): Promise<boolean> {
  const rows = await db`
    WITH job AS (
      UPDATE scheduled_jobs
         SET state = ${retryAt ? 'pending' : 'failed'}, run_at = ${retryAt ?? now}, lease_id = NULL,
             payload = CASE WHEN ${blankPayload && !retryAt} THEN '{}'::jsonb ELSE payload END,
             last_error = ${error}, updated_at = ${now}, finished_at = ${retryAt ? null : now}
       WHERE id = ${job.id} AND lease_id = ${job.lease_id} AND state = 'running'
      RETURNING id
    )${retryAt ? db`, trigger AS (${triggerInsert(db, 'job', job.key, retryAt)})` : db``}
    SELECT id FROM job`;
  return rows.length === 1;
}

/**
 * A trigger that arrived before its job's time (QStash's longest delay is shorter than the wait):
 * writes the next hop if the job is still pending for that time. The cron relay publishes it.
 */
export async function rearmTrigger(db: Sql, key: string, runAt: Date, hop: number, now: Date): Promise<boolean> {
  const rows = await db`
    WITH job AS (
      SELECT id FROM scheduled_jobs WHERE key = ${key} AND state = 'pending' AND run_at = ${runAt} AND run_at > ${now}
    ), trigger AS (${triggerInsert(db, 'job', key, runAt, hop + 1)})
    SELECT id FROM job`;
  return rows.length === 1;
}

/** Deletes done and cancelled jobs finished more than `days` ago (bounded per call). */
export async function pruneJobs(db: Queryable, now: Date, days = 7, limit = 10_000): Promise<number> {
  const rows = await db`
    DELETE FROM scheduled_jobs WHERE id IN (
      SELECT id FROM scheduled_jobs
       WHERE state IN ('done', 'cancelled') AND finished_at < ${now}::timestamptz - ${days} * interval '1 day'
       LIMIT ${limit})`;
  return rows.count;
}

export interface QueueJob {
  kind: string;
  key: string;
  state: 'pending' | 'running' | 'failed';
  due_at: Date;
  run_at: Date;
  attempts: number;
  last_error: string | null;
}

export interface QueueSummary {
  /** Pending and due now (late), pending later, running (claimed, lease alive), failed. */
  counts: { due: number; scheduled: number; running: number; failed: number; done: number };
  /** The next pending jobs, the running ones, and the latest failures (a few each). */
  next: QueueJob[];
  running: QueueJob[];
  failed: QueueJob[];
}

/** What admins see of the queue (/estado). */
export async function queueSummary(db: Sql, now: Date, limit = 5): Promise<QueueSummary> {
  const [counts] = await db<QueueSummary['counts'][]>`
    SELECT count(*) FILTER (WHERE state = 'pending' AND run_at <= ${now})::int AS due,
           count(*) FILTER (WHERE state = 'pending' AND run_at > ${now})::int AS scheduled,
           count(*) FILTER (WHERE state = 'running')::int AS running,
           count(*) FILTER (WHERE state = 'failed')::int AS failed,
           count(*) FILTER (WHERE state = 'done')::int AS done
      FROM scheduled_jobs`;
  const cols = db`kind, key, state, due_at, run_at, attempts, last_error`;
  const [next, running, failed] = await Promise.all([
    db<QueueJob[]>`SELECT ${cols} FROM scheduled_jobs WHERE state = 'pending' ORDER BY run_at, id LIMIT ${limit}`,
    db<QueueJob[]>`SELECT ${cols} FROM scheduled_jobs WHERE state = 'running' ORDER BY run_at, id LIMIT ${limit}`,
    db<QueueJob[]>`SELECT ${cols} FROM scheduled_jobs WHERE state = 'failed' ORDER BY updated_at DESC, id DESC LIMIT ${limit}`,
  ]);
  return { counts: counts!, next, running, failed };
}
