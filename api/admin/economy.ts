import type { VercelRequest, VercelResponse } from '@vercel/node';
import { getApp } from '../../lib/app.js';
import { economyApi } from '../../lib/economy/http.js';

/** The economy dashboard for the admin panel: JSON (or ?format=png, the chart). Bearer $ADMIN_API_TOKEN. */
export default async function handler(req: VercelRequest, res: VercelResponse) {
  const r = await economyApi(await getApp(), { method: req.method, headers: req.headers, query: req.query });
  for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.status(r.status).send(r.body);
}
