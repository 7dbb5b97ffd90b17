import http from 'node:http';
import { afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createDb, type Sql } from '../../lib/db/client.js';
import { testDatabaseUrl } from './db.js';
import { setApp, type App } from '../../lib/app.js';
import audit from '../../api/events/audit.js';
import gamification from '../../api/events/gamification.js';
import narrative from '../../api/events/narrative.js';
import admin from '../../api/events/admin.js';
import commands from '../../api/events/commands.js';
import scheduler from '../../api/events/scheduler.js';
import cronRelay from '../../api/cron/relay.js';
import cronJobs from '../../api/cron/jobs.js';

/**
 * The file's own database. Kept as a name for the bus tests: every test file now has a database of
 * its own (tests/support/file-database.ts), so other files' relays can't take this file's deliveries.
 */
export async function isolatedDatabase(): Promise<string> {
  return testDatabaseUrl();
}

type Handler = (req: any, res: any) => Promise<unknown>;

/**
 * Serves the real api/events/* and api/cron/relay handlers over HTTP (node:http, the raw request
 * stream, a minimal Vercel-style res.status/send/json). The handlers use the process app (getApp):
 * start this first (its URL is the app's PUBLIC_URL), then `useApp(app)`.
 */
export async function startApiServer(): Promise<{ url: string; server: http.Server; hits: Map<string, number[]> }> {
  const routes: Record<string, Handler> = {
    '/api/events/audit': audit,
    '/api/events/gamification': gamification,
    '/api/events/narrative': narrative,
    '/api/events/admin': admin,
    '/api/events/commands': commands,
    '/api/events/scheduler': scheduler,
    '/api/cron/relay': cronRelay as Handler,
    '/api/cron/jobs': cronJobs as Handler,
  };
  const hits = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = routes[path];
    const vres = Object.assign(res, {
      status(code: number) {
        res.statusCode = code;
        return vres;
      },
      send(body: unknown) {
        const list = hits.get(path) ?? [];
        list.push(res.statusCode);
        hits.set(path, list);
        res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
        return vres;
      },
      json(body: unknown) {
        res.setHeader('content-type', 'application/json');
        return vres.send(JSON.stringify(body));
      },
    });
    if (!handler) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    handler(req, vres).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  afterAll(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  return { url, server, hits };
}

export function useApp(app: App): void {
  setApp(app);
}

/** Polls until fn() is truthy (deliveries are asynchronous). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function countRows(db: Sql, table: string, where = 'true'): Promise<number> {
  const [r] = await db.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`);
  return r!.n;
}
