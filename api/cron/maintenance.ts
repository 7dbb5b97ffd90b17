import type { VercelRequest, VercelResponse } from '@vercel/node';
import { getApp } from '../../lib/app.js';
import { readRawBody } from '../_lib/http.js';
import { pruneInbox } from '../../lib/webhook/retention.js';

/** Daily housekeeping: prunes the update inbox. Authenticated like every cron (CRON_SECRET or QStash). */
export default async function handler(req: VercelRequest, res: VercelResponse) {
  const app = await getApp();
  const body = await readRawBody(req);
  if (!(await app.bus.authorizeCron({ method: req.method, headers: req.headers, body }, '/api/cron/maintenance'))) {
    return res.status(401).send('unauthorized');
  }
  const inboxPruned = await pruneInbox(app.db);
  app.log.info({ msg: 'maintenance', inboxPruned });
  res.status(200).json({ inboxPruned });
}
