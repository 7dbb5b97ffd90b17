import type { Sql } from '../db/client.js';
import { isTransientDbError } from '../db/errors.js';
import { withTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/zone.js';
import { InvalidJobPayload, jobHandlers as defaultHandlers, type JobContext, type JobHandlers } from './registry.js';
import { claimDue, completeJob, recordFailure, type ClaimedJob } from './repository.js';
import { DEFAULT_MAX_ATTEMPTS, defaultBackoffSeconds, errorText, lateness } from './rules.js';

export interface RunnerDeps {
  db: Sql;
  log: Logger;
  clock: Clock;
  timeZone: string;
  handlers?: JobHandlers;
  telegram?: JobContext['telegram'];
  kv?: JobContext['kv'];
  /** How long a claimed job is reserved for its runner (default 60 s); after that another runner may take it over. */
  leaseSeconds?: number;
  /** Jobs claimed per statement (default 20). */
  batchSize?: number;
  /** Jobs run at once per runner (default 4; each holds a connection while it runs). */
  concurrency?: number;
  /** Fault injection for tests: called inside the run's transaction, after the lease check, before the handler. */
  beforeRun?: (job: ClaimedJob) => Promise<void>;
}

/** done: ran and committed; retry: failed, back to pending; failed: kept as failed; lost: another runner took it; interrupted: left to its lease. */
export type RunOutcome = 'done' | 'retry' | 'failed' | 'lost' | 'interrupted';

export interface SweepReport {
  claimed: number;
  done: number;
  retried: number;
  failed: number;
  lost: number;
  interrupted: number;
  ms: number;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Runs one claimed job: in one transaction, the lease check marks it done and locks it, the handler
 * applies its effect, and both commit together. A handler error rolls both back and records the failure
 * (retry with back-off, or failed after the last attempt). A lost connection leaves the job to its lease.
 */
export async function runClaimed(deps: RunnerDeps, job: ClaimedJob): Promise<RunOutcome> {
  const handlers = deps.handlers ?? defaultHandlers;
  const handler = handlers.get(job.kind);
  const maxAttempts = handler?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const started = performance.now();
  const now = deps.clock();
  const ctx: JobContext = {
    kind: job.kind,
    key: job.key,
    dueAt: job.due_at,
    now,
    lateMs: lateness(job.due_at, now),
    attempt: job.attempts,
    clock: deps.clock,
    timeZone: deps.timeZone,
    log: deps.log,
    telegram: deps.telegram,
    kv: deps.kv,
  };
  const line = { kind: job.kind, key: job.key, attempt: job.attempts, late_ms: ctx.lateMs };
  let outcome: RunOutcome;
  let error: unknown;
  try {
    // A job that used up its attempts while its runners died mid-run (leases expired) is not run again.
    if (job.attempts > maxAttempts) throw new Error(`gave up after ${maxAttempts} attempts whose runners stopped mid-run`);
    if (!handler) throw new Error(`no handler registered for job kind "${job.kind}"`);
    const parsed = handler.payload.safeParse(job.payload);
    if (!parsed.success) throw new InvalidJobPayload(job.kind, parsed.error.issues.map((i) => i.message).join('; '));
    outcome = await withTransaction(deps.db, async (tx) => {
      if (!(await completeJob(tx, job, deps.clock(), handler.personalPayload))) return 'lost' as const;
      await deps.beforeRun?.(job);
      await handler.run(tx, parsed.data, ctx);
      return 'done' as const;
    });
  } catch (err) {
    error = err;
    if (isTransientDbError(err)) {
      outcome = 'interrupted';
    } else {
      const permanent = err instanceof InvalidJobPayload || job.attempts >= maxAttempts;
      const backoff = handler?.backoffSeconds ?? defaultBackoffSeconds;
      const failedAt = deps.clock();
      const retryAt = permanent ? null : new Date(failedAt.getTime() + backoff(job.attempts) * 1000);
      try {
        const recorded = await recordFailure(deps.db, job, failedAt, errorText(err), retryAt, handler?.personalPayload);
        outcome = !recorded ? 'lost' : retryAt ? 'retry' : 'failed';
      } catch (recordErr) {
        deps.log.warn({ msg: 'job failure not recorded, left to its lease', ...line, error: errorText(recordErr) });
        outcome = 'interrupted';
      }
    }
  }
  const ms = Math.round(performance.now() - started);
  if (outcome === 'done' || outcome === 'lost') deps.log.info({ msg: 'job run', ...line, outcome, ms });
  else (outcome === 'failed' ? deps.log.error : deps.log.warn)({ msg: 'job run', ...line, outcome, ms, error: errorText(error) });
  return outcome;
}

function tally(report: SweepReport, outcome: RunOutcome): void {
  if (outcome === 'done') report.done++;
  else if (outcome === 'retry') report.retried++;
  else if (outcome === 'failed') report.failed++;
  else if (outcome === 'lost') report.lost++;
  else report.interrupted++;
}

export interface SweepOptions {
  /** Stop claiming new jobs after this long (default 10 s). */
  timeBudgetMs?: number;
  /** Checked before each claim: true stops (shutdown). */
  stop?: () => boolean;
}

/** Claims and runs due jobs batch after batch until none is due or the time budget is spent. */
export async function runDueJobs(deps: RunnerDeps, opts: SweepOptions = {}): Promise<SweepReport> {
  const started = performance.now();
  const budget = opts.timeBudgetMs ?? 10_000;
  const batchSize = deps.batchSize ?? 20;
  const report: SweepReport = { claimed: 0, done: 0, retried: 0, failed: 0, lost: 0, interrupted: 0, ms: 0 };
  while (performance.now() - started < budget && !opts.stop?.()) {
    const jobs = await claimDue(deps.db, deps.clock(), deps.leaseSeconds ?? 60, batchSize);
    report.claimed += jobs.length;
    await mapLimit(jobs, deps.concurrency ?? 4, async (job) => tally(report, await runClaimed(deps, job)));
    if (jobs.length < batchSize) break;
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}

/** Runs one job by key if it is due and free (a trigger); null when there was nothing to run. */
export async function runJobByKey(deps: RunnerDeps, key: string): Promise<RunOutcome | null> {
  const [job] = await claimDue(deps.db, deps.clock(), deps.leaseSeconds ?? 60, 1, key);
  return job ? runClaimed(deps, job) : null;
}
