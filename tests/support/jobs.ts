import type { App } from '../../lib/app.js';

/**
 * Runs every due job to completion, as production would: a run interrupted by a transient database
 * error (a loaded machine) is retaken after its lease — `passLease` moves the test clock past it — and
 * a job that a job's own trigger event (relayed in-process) is running in another runner is waited
 * for rather than read half-way.
 */
export async function drainJobs(app: App, passLease: () => void): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const r = await app.scheduler.sweep();
    if (r.interrupted > 0) passLease();
    else if (r.claimed === 0) {
      const [busy] = await app.db<{ n: number }[]>`SELECT count(*)::int AS n FROM scheduled_jobs WHERE state = 'running'`;
      if (busy!.n === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
