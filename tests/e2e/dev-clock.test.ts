/**
 * npm run dev's clock control: the chat page moves the bot's injected clock; the daily gift, a job and
 * a lease follow it, and jobs that fall due in the skipped time run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../../lib/log.js';
import { jobHandlers, schedule } from '../../lib/scheduler/index.js';
import { startServer, type RunningServer } from '../../dev/server.js';
import { testDatabaseUrl } from '../support/db.js';

jobHandlers.register({
  kind: 'test.dev_clock',
  payload: z.object({ note: z.string() }),
  async run(tx, p, ctx) {
    await tx`INSERT INTO dev_clock_effects (key, note, late_ms) VALUES (${ctx.key}, ${p.note}, ${ctx.lateMs})`;
  },
});

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-dev-clock-'));
let server: RunningServer;
const postJson = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const move = async (step: string) => (await (await postJson(`${server.url}/dev/clock`, { step })).json()) as { now: string; offsetMs: number; jobsRun: number };
const say = async (userId: number, text: string) => {
  await postJson(`${server.url}/dev/chats/${userId}/messages`, { text });
  const messages = (await (await fetch(`${server.url}/dev/chats/${userId}/messages`)).json()) as { from: string; text: string }[];
  return messages.filter((m) => m.from === 'bot').at(-1)!.text;
};

beforeAll(async () => {
  server = await startServer({ mode: 'dev', env: { DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' }, port: 0, print: () => {}, log: silentLogger, dataDir });
  await server.app.db`CREATE TABLE dev_clock_effects (key text NOT NULL, note text NOT NULL, late_ms bigint NOT NULL)`;
});
afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm run dev: the bot’s clock control', () => {
  it('the page loads the control; the endpoint answers only valid steps on localhost', async () => {
    expect(await (await fetch(server.url)).text()).toContain('<script type="module" src="/clock.js"></script>');
    const js = await fetch(`${server.url}/clock.js`);
    expect(js.status).toBe(200);
    expect(await js.text()).toContain('Volver a ahora');
    const state = await (await fetch(`${server.url}/dev/clock`)).json();
    expect(state.offsetMs).toBe(0);
    expect(Math.abs(Date.parse(state.now) - Date.now())).toBeLessThan(5_000);
    expect((await postJson(`${server.url}/dev/clock`, { step: 'year' })).status).toBe(400);
    // A page elsewhere whose DNS name was rebound to 127.0.0.1 sends its own Host header: refused.
    const foreign = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${server.url}/dev/clock`, { method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end('{"step":"day"}');
    });
    expect(foreign).toBe(403);
    expect((await (await fetch(`${server.url}/dev/clock`)).json()).offsetMs).toBe(0);
  });

  it('the daily gift, a job and a lease follow the moved clock; back to now', async () => {
    const user = (await (await postJson(`${server.url}/dev/users`, { first_name: 'Reloj' })).json()) as { id: number };
    expect(await say(user.id, '/daily')).toMatch(/Recibiste <b>10 besitos<\/b>/);
    expect(await say(user.id, '/daily')).not.toMatch(/Recibiste/);

    // A job due in 30 minutes by the bot's clock, and one whose runner died mid-run (its lease ends in 60 s).
    const t = server.app.clock();
    await server.app.db.begin(async (tx) => {
      await schedule(tx, { kind: 'test.dev_clock', key: 'dev:reminder', dueAt: new Date(t.getTime() + 30 * 60_000), payload: { note: 'recordatorio' } });
    });
    await server.app.db`
      INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at, state, attempts, lease_id)
      VALUES ('test.dev_clock', 'dev:leased', '{"note":"lease"}', ${t}, ${new Date(t.getTime() + 60_000)}, 'running', 1, gen_random_uuid())`;
    await new Promise((r) => setTimeout(r, 1_500)); // the in-process timer sweeps every second: neither is due yet
    expect(await server.app.db`SELECT 1 FROM dev_clock_effects`).toHaveLength(0);

    const moved = await move('hour');
    expect(moved.offsetMs).toBe(3_600_000);
    expect(Date.parse(moved.now) - Date.now()).toBeGreaterThan(3_590_000);
    const effects = await server.app.db<{ key: string; late_ms: string }[]>`SELECT key, late_ms FROM dev_clock_effects ORDER BY key`;
    expect(effects.map((e) => e.key)).toEqual(['dev:leased', 'dev:reminder']); // the lease ended, the reminder fell due
    expect(Number(effects.find((e) => e.key === 'dev:reminder')!.late_ms)).toBeGreaterThanOrEqual(30 * 60_000 - 5_000);

    const day = await move('day');
    expect(day.offsetMs).toBe(3_600_000 + 86_400_000);
    expect(await say(user.id, '/daily')).toMatch(/Recibiste <b>10 besitos<\/b>/); // a new day for the bot

    const back = await move('now');
    expect(back.offsetMs).toBe(0);
    expect(Math.abs(Date.parse(back.now) - Date.now())).toBeLessThan(5_000);
    expect(server.app.clock().getTime() - Date.now()).toBeLessThan(5_000);
  });
});
