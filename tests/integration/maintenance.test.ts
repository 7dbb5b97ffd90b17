import { describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { nextUpdateId, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';

const CRON_SECRET = 'cron-secret-for-tests';
const { app, post } = await startTestApp({ CRON_SECRET });

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

  it('forgets abuse-prevention pseudonyms: on daily claims after 2 days, erasure records after a day', async () => {
    const [a, b] = [uniqueTelegramId(), uniqueTelegramId()];
    for (const tg of [a, b]) expect((await post(textUpdate(tg, '/daily'))).status).toBe(200);
    const claims = await app.db<{ user_id: number; person: string | null }[]>`
      SELECT c.user_id, c.person FROM daily_claims c JOIN users u ON u.id = c.user_id WHERE u.telegram_id IN ${app.db([a, b])} ORDER BY u.telegram_id = ${a} DESC`;
    expect(claims.map((c) => c.person)).toEqual([expect.any(String), expect.any(String)]);
    await app.db`UPDATE daily_claims SET claimed_at = now() - interval '3 days' WHERE user_id = ${claims[0]!.user_id}`;
    await app.db`INSERT INTO erasures (person, update_id, erased_at) VALUES ('old-person', 1, now() - interval '25 hours'), ('new-person', 2, now())`;
    const res = await callCron(`Bearer ${CRON_SECRET}`);
    expect(JSON.parse(res.body).pseudonymsPruned).toMatchObject({ claims: 1, erasures: 1 });
    const after = await app.db<{ person: string | null }[]>`SELECT person FROM daily_claims WHERE user_id IN ${app.db(claims.map((c) => c.user_id))} ORDER BY user_id = ${claims[0]!.user_id} DESC`;
    expect(after.map((c) => c.person)).toEqual([null, claims[1]!.person]);
    expect((await app.db`SELECT person FROM erasures ORDER BY person`).map((r) => r.person)).toEqual(['new-person']);
  });
});
