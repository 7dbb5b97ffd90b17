import type { IncomingMessage } from 'node:http';
import type { VercelRequest, VercelResponse } from '@vercel/node';
import { getApp } from '../../lib/app.js';

/**
 * The raw request body, as the signature needs it.
 *
 * On Vercel (@vercel/node helpers) the runtime reads the body into a buffer, defines `req.body` as a
 * lazy getter that parses JSON on first access, and replays the bytes to `req.on('data'|'end')`
 * listeners. We never touch the getter (parsed-and-reserialised JSON is not the signed bytes): we
 * listen for 'data'/'end', which works on Vercel and on a plain node:http IncomingMessage (the dev
 * server's adapter), as long as nobody consumed the stream before.
 *
 * Assumption for other adapters: either leave the stream unread, or put the exact bytes on
 * `req.rawBody` (Buffer or string), or set `req.body` to a Buffer/string data property (not a getter).
 */
export async function readRawBody(req: IncomingMessage & { rawBody?: unknown; body?: unknown }): Promise<Buffer> {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  if (typeof req.rawBody === 'string') return Buffer.from(req.rawBody);
  const own = Object.getOwnPropertyDescriptor(req, 'body');
  if (own && 'value' in own) {
    if (Buffer.isBuffer(own.value)) return own.value;
    if (typeof own.value === 'string') return Buffer.from(own.value);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * api/events/<subscriber>.ts: verify, parse, process once (lib/bus/receive.ts). HTTP glue lives in api/
 * (files under api/_lib are not functions): lib/bus knows neither the app nor the bot.
 */
export function eventsHandler(subscriber: string) {
  return async function handler(req: VercelRequest, res: VercelResponse) {
    const app = await getApp();
    const body = await readRawBody(req);
    const result = await app.bus.receive(subscriber, { method: req.method, headers: req.headers, body });
    res.status(result.status).send(result.body);
  };
}
