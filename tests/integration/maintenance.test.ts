/**
 * The daily maintenance is a scheduled job (lib/maintenance): one per local day, run by whatever runs
 * jobs (api/cron/jobs on Vercel, the timer under npm start / dev), by the injected clock.
 */
import { describe, expect, it } from 'vitest';
import { nextUpdateId, startTestApp } from '../support/app.js';

const DAY = 86_400_000;
// 12:00 UTC = 06:00 in America/Mexico_City: today's 04:00 maintenance is due.
let now = new Date('2026-06-10T12:00:00Z');
const { app } = await startTestApp({}, { clock: () => new Date(now) });
const ago = (days: number) => new Date(now.getTime() - days * DAY);

describe('daily maintenance (a scheduled job)', () => {
  it('prunes handled updates after 3 days, failed ones after 30, done jobs after 7; once per local day', async () => {
    const [old, recent, failed, oldFailed] = [nextUpdateId(), nextUpdateId(), nextUpdateId(), nextUpdateId()];
    await app.db`
      INSERT INTO telegram_updates (update_id, kind, status, updated_at) VALUES
        (${old}, 'message', 'done', ${ago(4)}),
        (${recent}, 'message', 'done', ${ago(1)}),
        (${failed}, 'message', 'failed', ${ago(20)}),
        (${oldFailed}, 'message', 'failed', ${ago(31)})`;
    await app.db`
      INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at, state, finished_at) VALUES
        ('x', 'old-done', '{}', ${ago(9)}, ${ago(9)}, 'done', ${ago(8)}),
        ('x', 'old-cancelled', '{}', ${ago(9)}, ${ago(9)}, 'cancelled', ${ago(8)}),
        ('x', 'recent-done', '{}', ${ago(6)}, ${ago(6)}, 'done', ${ago(6)}),
        ('x', 'old-failed', '{}', ${ago(30)}, ${ago(30)}, 'failed', ${ago(30)})`;

    expect(await app.scheduler.sweep()).toMatchObject({ done: 1 });
    const left = await app.db<{ update_id: number }[]>`SELECT update_id FROM telegram_updates WHERE update_id IN ${app.db([old, recent, failed, oldFailed])} ORDER BY update_id`;
    expect(left.map((r) => r.update_id)).toEqual([recent, failed]);
    const jobs = await app.db<{ key: string }[]>`SELECT key FROM scheduled_jobs ORDER BY key`;
    expect(jobs.map((j) => j.key)).toEqual(['maintenance.daily:2026-06-10', 'old-failed', 'recent-done']); // failed jobs stay for admins

    // Later the same day: nothing new to run.
    now = new Date(now.getTime() + 6 * 3_600_000);
    expect((await app.scheduler.sweep()).claimed).toBe(0);
    // The next local day, after 04:00: the next day's maintenance.
    now = new Date('2026-06-11T10:00:00Z');
    expect(await app.scheduler.sweep()).toMatchObject({ done: 1 });
    expect(await app.db`SELECT 1 FROM scheduled_jobs WHERE key = 'maintenance.daily:2026-06-11' AND state = 'done'`).toHaveLength(1);
  });

  it('before 04:00 local it is scheduled, not run', async () => {
    now = new Date('2026-06-12T08:00:00Z'); // 02:00 in Mexico City
    expect((await app.scheduler.sweep()).claimed).toBe(0);
    const [job] = await app.db<{ due_at: Date; state: string }[]>`SELECT due_at, state FROM scheduled_jobs WHERE key = 'maintenance.daily:2026-06-12'`;
    expect(job).toEqual({ due_at: new Date('2026-06-12T10:00:00Z'), state: 'pending' });
  });
});
