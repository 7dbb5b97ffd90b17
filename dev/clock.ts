import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { App } from '../lib/app.js';
import type { MovableClock } from '../lib/time/clock.js';
import { readRequestBody } from './vercel-adapter.js';

const STEPS: Record<string, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

/**
 * The chat page's clock control (`npm run dev` only, localhost only): moves the bot's injected clock,
 * so daily gifts, streaks, reminders and expiries can be tried by hand, then runs the jobs that fell due.
 *   GET  /dev/clock                         { now, offsetMs }
 *   POST /dev/clock { step: hour|day|week|now }   moves it (now = back to the real time)
 *   GET  /clock.js                          the control the page loads (dev/public/clock.js)
 */
export function createClockControl(deps: { app: App; clock: MovableClock; publicDir: string }) {
  const { app, clock, publicDir } = deps;
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const state = () => ({ now: clock.now().toISOString(), offsetMs: clock.offsetMs() });

  async function route(req: http.IncomingMessage, res: http.ServerResponse, pathname: string) {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (!['localhost', '127.0.0.1', '[::1]'].includes(host)) return send(res, 403, { error: 'the dev pages answer only on localhost' });
    if (pathname === '/clock.js' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
      return void res.end(await readFile(path.join(publicDir, 'clock.js')));
    }
    if (req.method === 'GET') return send(res, 200, state());
    if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
    let step: unknown;
    try {
      step = (JSON.parse((await readRequestBody(req)).toString('utf8') || '{}') as { step?: unknown }).step;
    } catch {
      return send(res, 400, { error: 'invalid JSON' });
    }
    if (step === 'now') clock.reset();
    else if (typeof step === 'string' && Object.hasOwn(STEPS, step)) clock.advance(STEPS[step]!);
    else return send(res, 400, { error: 'step must be hour, day, week or now' });
    app.log.info({ msg: 'dev clock moved', step, ...state() });
    // Whatever fell due in the skipped time runs now (the in-process timer would within a second).
    const jobs = await app.scheduler.sweep({ timeBudgetMs: 20_000 });
    await app.bus.afterCommit();
    return send(res, 200, { ...state(), jobsRun: jobs.done });
  }

  return {
    handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): boolean {
      if (pathname !== '/dev/clock' && pathname !== '/clock.js') return false;
      route(req, res, pathname).catch((err) => {
        app.log.error({ msg: 'dev clock failed', error: String((err as Error)?.stack ?? err) });
        if (!res.headersSent) send(res, 500, { error: String((err as Error)?.message ?? err) });
        else res.end();
      });
      return true;
    },
  };
}
