import type { Queryable } from '../db/client.js';
import { jobHandlers, type JobHandlers } from './registry.js';
import { cancelJob, insertJob, moveJob, pruneJobs, queueSummary, rearmTrigger, type QueueSummary } from './repository.js';
import { isValidKey } from './rules.js';
import { triggerInsertFrom } from './triggers.js';
import { runDueJobs, runJobByKey, type RunnerDeps, type RunOutcome, type SweepOptions, type SweepReport } from './runner.js';

export { jobHandlers, JobHandlers, UnknownJobKind, InvalidJobPayload, type JobHandler, type JobContext, type Tx } from './registry.js';
export type { QueueSummary, QueueJob } from './repository.js';
/** The queue as admins see it (/estado): counts, next, running and failed jobs. */
export { queueSummary as jobQueue, pruneJobs } from './repository.js';
export type { RunOutcome, SweepReport, RunnerDeps } from './runner.js';

/** A job to schedule. `payload` must satisfy the zod schema its kind registered. */
export interface JobSpec {
  kind: string;
  /** Unique across all jobs (e.g. `vip.reminder:<subscription id>`); scheduling an existing key is a no-op. */
  key: string;
  dueAt: Date;
  payload: unknown;
}

function checkKey(key: string): void {
  if (!isValidKey(key)) throw new Error('job key must be 1-200 characters');
}

function checkDate(d: Date): void {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new Error('dueAt must be a valid Date');
}

/**
 * Schedules a job inside the caller's transaction (one INSERT: a rollback schedules nothing).
 * Throws UnknownJobKind / InvalidJobPayload before writing. Returns false when the key already exists
 * (whatever its state): scheduling is idempotent.
 */
export async function schedule(tx: Queryable, job: JobSpec, handlers: JobHandlers = jobHandlers): Promise<boolean> {
  checkKey(job.key);
  checkDate(job.dueAt);
  handlers.parse(job.kind, job.payload);
  return insertJob(tx, job);
}

/**
 * schedule() as statement parts, for a job that belongs to a row another CTE of the caller's statement
 * writes (a ledger row's lot): no round trip of its own, and it commits or rolls back with that row.
 * One job per row of `from` (a preceding CTE); `key` and `payload` are SQL over that row (its id is
 * known only inside the statement). The payload's shape is checked before the statement with `sample`
 * (the payload with placeholders where the SQL fills in values), as schedule() does. Same dedupe: an
 * existing key is a no-op and writes no trigger. Defines CTEs `<name>` and `<name>_trigger`, which
 * returns the triggers' event ids: note them (noteWrittenEvents) after the statement.
 */
export function scheduleCte(
  q: Queryable,
  name: string,
  job: { kind: string; from: string; key: ReturnType<Queryable>; payload: ReturnType<Queryable>; sample: unknown; dueAt: Date },
  handlers: JobHandlers = jobHandlers,
) {
  checkDate(job.dueAt);
  handlers.parse(job.kind, job.sample);
  return q`${q(name)} AS (
        INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at)
        SELECT ${job.kind}, ${job.key}, ${job.payload}, ${job.dueAt}, ${job.dueAt} FROM ${q(job.from)}
        ON CONFLICT (key) DO NOTHING
        RETURNING key
      ), ${q(`${name}_trigger`)} AS (${triggerInsertFrom(q, name, job.dueAt)})`;
}

/**
 * Moves a job that has not run yet to `dueAt` (pending again, fresh attempts; a failed or cancelled
 * job comes back), optionally with a new payload (then `kind` is required to validate it, and must
 * match). Returns false when no such job exists or it already ran. Inside a transaction, a rollback
 * leaves the job as it was.
 */
export async function reschedule(
  tx: Queryable,
  job: { key: string; dueAt: Date; kind?: string; payload?: unknown },
  handlers: JobHandlers = jobHandlers,
): Promise<boolean> {
  checkKey(job.key);
  checkDate(job.dueAt);
  if (job.payload !== undefined) {
    if (!job.kind) throw new Error('reschedule with a new payload needs its kind to validate it');
    handlers.parse(job.kind, job.payload);
  }
  return moveJob(tx, job);
}

/** Cancels a job that has not run yet. Returns false when there is none (unknown key, already ran or cancelled). */
export async function cancel(tx: Queryable, key: string): Promise<boolean> {
  checkKey(key);
  return cancelJob(tx, key);
}

export interface Scheduler {
  /** Runs every due job (the cron sweep, the in-process timer). */
  sweep(opts?: SweepOptions): Promise<SweepReport>;
  /** Runs one job if it is due and free; null when there was nothing to run. */
  runJob(key: string): Promise<RunOutcome | null>;
  /**
   * A trigger arrived (the `scheduler` subscriber): runs the job if due; one that came early (QStash's
   * longest delay is shorter than the wait) is re-armed for its time. Throws when the run was
   * interrupted (database gone), so that QStash delivers the trigger again.
   */
  onTrigger(trigger: { job_key: string; run_at: string; hop: number }): Promise<RunOutcome | 'early' | null>;
  /** Deletes done and cancelled jobs older than 7 days (the daily maintenance). */
  prune(days?: number): Promise<number>;
  /** The queue for admins. */
  summary(): Promise<QueueSummary>;
  /** In-process timer for long-running servers (npm start / npm run dev); returns a stop function. */
  startTimer(intervalMs?: number): () => void;
  close(): Promise<void>;
}

export interface SchedulerOptions {
  /** Whether an early trigger writes its next hop: only when triggers travel through QStash (else they arrive at once). */
  rearmTriggers?: () => boolean;
  /** Runs before each sweep with the clock's time: schedules recurring work (the daily maintenance). */
  beforeSweep?: (db: RunnerDeps['db'], now: Date) => Promise<void>;
}

export function createScheduler(deps: RunnerDeps, opts: SchedulerOptions = {}): Scheduler {
  let closed = false;
  const timers = new Set<() => void>();
  let running: Promise<unknown> | null = null;
  const scheduler: Scheduler = {
    async sweep(sweepOpts = {}) {
      await opts.beforeSweep?.(deps.db, deps.clock());
      return runDueJobs(deps, { ...sweepOpts, stop: () => closed || (sweepOpts.stop?.() ?? false) });
    },
    runJob: (key) => runJobByKey(deps, key),
    async onTrigger(t) {
      const outcome = await runJobByKey(deps, t.job_key);
      if (outcome === 'interrupted') throw new Error(`job ${t.job_key} interrupted; the trigger will be delivered again`);
      if (outcome === null && opts.rearmTriggers?.()) {
        if (await rearmTrigger(deps.db, t.job_key, new Date(t.run_at), t.hop, deps.clock())) return 'early';
      }
      return outcome;
    },
    prune: (days) => pruneJobs(deps.db, deps.clock(), days),
    summary: () => queueSummary(deps.db, deps.clock()),
    startTimer(intervalMs = 1_000) {
      const timer = setInterval(() => {
        if (running || closed) return;
        running = scheduler
          .sweep({ timeBudgetMs: 10_000 })
          .then((r) => {
            if (r.claimed > 0) deps.log.info({ msg: 'job sweep', ...r });
          })
          .catch((err) => deps.log.warn({ msg: 'job sweep failed', error: String(err) }))
          .finally(() => {
            running = null;
          });
      }, intervalMs);
      timer.unref();
      const stop = () => {
        clearInterval(timer);
        timers.delete(stop);
      };
      timers.add(stop);
      return stop;
    },
    async close() {
      closed = true;
      for (const stop of [...timers]) stop();
      while (running) await running;
    },
  };
  return scheduler;
}
