import type { App } from '../app.js';
import { secretMatches } from '../webhook/secret.js';
import { economyDashboard } from './dashboard.js';

export interface AdminApiRequest {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string | string[] | undefined>;
}

export interface AdminApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

const json = (status: number, body: unknown): AdminApiResponse => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * GET /api/admin/economy?days=30[&format=png]: the dashboard's data as JSON (what /economia shows), or
 * its chart. Authenticated with `Authorization: Bearer $ADMIN_API_TOKEN` (constant-time); without the
 * variable the endpoint does not exist (404).
 */
export async function economyApi(app: Pick<App, 'config' | 'db' | 'clock'>, req: AdminApiRequest): Promise<AdminApiResponse> {
  const token = app.config.ADMIN_API_TOKEN;
  if (!token) return json(404, { error: 'not_found' });
  const auth = one(req.headers.authorization);
  if (!auth || !auth.startsWith('Bearer ') || !secretMatches(token, auth.slice(7))) return json(401, { error: 'unauthorized' });
  if (req.method && req.method !== 'GET') return json(405, { error: 'method_not_allowed' });
  const daysText = one(req.query.days) ?? '30';
  const days = Number(daysText);
  if (!/^\d{1,3}$/.test(daysText) || days < 1 || days > 366) return json(400, { error: 'bad_days', message: 'days must be an integer from 1 to 366' });
  const format = one(req.query.format) ?? 'json';
  if (format !== 'json' && format !== 'png') return json(400, { error: 'bad_format', message: 'format is json or png' });
  const d = await economyDashboard(app.db, { now: app.clock(), timeZone: app.config.timeZone, days });
  if (format === 'json') return json(200, d);
  const { dashboardPng } = await import('./chart.js');
  return { status: 200, headers: { 'content-type': 'image/png', 'cache-control': 'no-store' }, body: await dashboardPng(d) };
}
