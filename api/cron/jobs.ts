import type { VercelRequest, VercelResponse } from '@vercel/node';
import { getApp } from '../../lib/app.js';
import { readRawBody } from '../_lib/http.js';

/**
 * Scheduled-jobs sweep (lib/scheduler): runs every due job, including those a QStash trigger missed
 * and those whose runner died (after their lease). Authenticated like api/cron/relay: a Vercel cron
 * (Authorization: Bearer $CRON_SECRET) or a QStash schedule (Upstash-Signature for <PUBLIC_URL>/api/cron/jobs).
 */
export default async function handler(req: VercelRequest, res: VercelResponse) {
  const app = await getApp();
  const body = await readRawBody(req);
  if (!(await app.bus.authorizeCron({ method: req.method, headers: req.headers, body }, '/api/cron/jobs'))) {
    return res.status(401).send('unauthorized');
  }
  const report = await app.scheduler.sweep({ timeBudgetMs: 45_000 });
  (report.claimed > 0 ? app.log.info : app.log.debug)({ msg: 'job sweep', ...report });
  res.status(200).json(report);
}
