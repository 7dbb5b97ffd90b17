import type { VercelRequest, VercelResponse } from '@vercel/node';
import { getApp } from '../../lib/app.js';
import { readRawBody } from '../_lib/http.js';

/**
 * Outbox sweep: publishes every due outbox row (what an after-commit relay missed or failed).
 * Called by a Vercel cron (GET, Authorization: Bearer $CRON_SECRET) or a QStash schedule (POST,
 * Upstash-Signature for <PUBLIC_URL>/api/cron/relay).
 */
export default async function handler(req: VercelRequest, res: VercelResponse) {
  const app = await getApp();
  const body = await readRawBody(req);
  if (!(await app.bus.authorizeCron({ method: req.method, headers: req.headers, body }, '/api/cron/relay'))) {
    return res.status(401).send('unauthorized');
  }
  res.status(200).json(await app.bus.sweep());
}
