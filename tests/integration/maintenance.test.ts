import { describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { nextUpdateId, startTestApp } from '../support/app.js';

const CRON_SECRET = 'cron-secret-for-tests';
const { app } = await startTestApp({ CRON_SECRET });

async function callCron(auth?: string) {
  const { default: handler } = await import('../../api/cron/maintenance.js');
  const { setApp } = await import('../../lib/app.js');
  setApp(app);
  // A tiny @vercel/node-shaped response over a real request, as the platform would call it.
  const server = http.createServer((req, res) => {
    const r = Object.assign(res, {
      status(code: number) { res.statusCode = code; return r; },
      send(b: string) { res.end(b); return r; },
      json(b: unknown) { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(b)); return r; },
    });
    void handler(req as never, r as never);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/cron/maintenance`, {
      headers: auth ? { authorization: auth } : {},
    });
    return { status: res.status, body: await res.text() };
  } finally {
    server.close();
  }
}

describe('maintenance cron', () => {
  it('without CRON_SECRET → 401 and nothing is deleted', async () => {
    const id = nextUpdateId();
    await app.db`INSERT INTO telegram_updates (update_id, kind, status, updated_at) VALUES (${id}, 'message', 'done', now() - interval '10 days')`;
    expect((await callCron()).status).toBe(401);
    expect((await callCron('Bearer wrong')).status).toBe(401);
    expect(await app.db`SELECT 1 FROM telegram_updates WHERE update_id = ${id}`).toHaveLength(1);
  });

  it('prunes handled updates older than 3 days and failed ones older than 30, keeps the rest', async () => {
    const [old, recent, failed, oldFailed] = [nextUpdateId(), nextUpdateId(), nextUpdateId(), nextUpdateId()];
    await app.db`
      INSERT INTO telegram_updates (update_id, kind, status, updated_at) VALUES
        (${old}, 'message', 'done', now() - interval '4 days'),
        (${recent}, 'message', 'done', now() - interval '1 day'),
        (${failed}, 'message', 'failed', now() - interval '20 days'),
        (${oldFailed}, 'message', 'failed', now() - interval '31 days')`;
    const res = await callCron(`Bearer ${CRON_SECRET}`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).inboxPruned).toBeGreaterThanOrEqual(2);
    const left = await app.db<{ update_id: number }[]>`SELECT update_id FROM telegram_updates WHERE update_id IN ${app.db([old, recent, failed, oldFailed])} ORDER BY update_id`;
    expect(left.map((r) => r.update_id)).toEqual([recent, failed]);
  });
});
