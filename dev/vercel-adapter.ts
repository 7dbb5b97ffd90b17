import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { VercelRequest, VercelResponse } from '@vercel/node';

/**
 * node:http → the @vercel/node request/response shape, so the dev server and `npm start` run the
 * same default-exported `api/*` handlers Vercel runs.
 *
 * It mirrors @vercel/node's own helpers (dist/dev-server.mjs, "serverless-functions/helpers.ts",
 * which the production launcher uses too):
 * - the body is read into a Buffer before the handler runs, but only when a content-type header is
 *   present (as on Vercel);
 * - `req.body` is a lazy getter: JSON for application/json (throws "Invalid JSON", status 400, on a
 *   malformed body; an empty body gives {}), the Buffer for application/octet-stream, an object for
 *   application/x-www-form-urlencoded, a string for text/plain (and for a missing content-type),
 *   undefined otherwise;
 * - the request stream is *replayed*: a handler that needs the raw bytes (a QStash signature check)
 *   reads `req` as a normal stream (`for await (const c of req)`, `req.on('data')`) and gets exactly
 *   the bytes that arrived. That is the portable way, because it also works on Vercel.
 *   The Buffer is also exposed as the non-standard `req.rawBody` for dev tools; handlers should not
 *   rely on it since Vercel does not set it.
 * - `req.query` (repeated keys become arrays) and `req.cookies`;
 * - `res.status(code)`, `res.send(body)` (string → text/html, Buffer → octet-stream, object → JSON),
 *   `res.json(obj)`, `res.redirect([status,] url)`, plus everything of ServerResponse.
 */
export type AdaptedRequest = VercelRequest & { rawBody: Buffer };

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function readRequestBody(req: IncomingMessage, limitBytes = 4.5 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // Vercel's limit for a function request body.
    if (size > limitBytes) throw new ApiError(413, 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function mediaType(header: string | undefined): string {
  if (!header) return 'text/plain';
  return header.split(';')[0]!.trim().toLowerCase();
}

function parseBody(body: Buffer, contentType: string | undefined): unknown {
  const type = mediaType(contentType);
  if (type === 'application/json') {
    try {
      const str = body.toString();
      return str ? JSON.parse(str) : {};
    } catch {
      throw new ApiError(400, 'Invalid JSON');
    }
  }
  if (type === 'application/octet-stream') return body;
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(body.toString()));
  if (type === 'text/plain') return body.toString();
  return undefined;
}

function parseQuery(url = '/'): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  new URL(url, 'http://localhost').searchParams.forEach((value, key) => {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else query[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  });
  return query;
}

function parseCookies(header: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const text = Array.isArray(header) ? header.join(';') : (header ?? '');
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    try {
      out[key] = decodeURIComponent(value);
    } catch {
      out[key] = value;
    }
  }
  return out;
}

/** Defines `prop` as computed on first read, then a plain writable value (like @vercel/node). */
function lazy(target: object, prop: string, getter: () => unknown) {
  const reset = (value: unknown) =>
    Object.defineProperty(target, prop, { configurable: true, enumerable: true, writable: true, value });
  Object.defineProperty(target, prop, {
    configurable: true,
    enumerable: true,
    get() {
      const value = getter();
      reset(value);
      return value;
    },
    set: reset,
  });
}

/** Makes the already-read body readable again from the request stream. */
function replayBody(req: IncomingMessage, body: Buffer) {
  const replay = new PassThrough();
  const originalOn = req.on.bind(req);
  const on = replay.on.bind(replay);
  (req as any).read = replay.read.bind(replay);
  (req as any).on = (req as any).addListener = (name: string, cb: (...args: any[]) => void) =>
    name === 'data' || name === 'end' || name === 'readable' ? (on(name, cb), req) : originalOn(name, cb);
  (req as any)[Symbol.asyncIterator] = () => replay[Symbol.asyncIterator]();
  replay.end(body);
}

function send(req: IncomingMessage, res: ServerResponse, body: unknown): ServerResponse {
  let chunk: string | Buffer;
  if (body === null || body === undefined) chunk = '';
  else if (Buffer.isBuffer(body)) {
    if (!res.getHeader('content-type')) res.setHeader('content-type', 'application/octet-stream');
    chunk = body;
  } else if (typeof body === 'object') return sendJson(req, res, body);
  else {
    chunk = String(body);
    if (typeof body === 'string' && !res.getHeader('content-type')) res.setHeader('content-type', 'text/html; charset=utf-8');
  }
  if (res.statusCode === 204 || res.statusCode === 304) {
    res.removeHeader('content-type');
    chunk = '';
  } else {
    res.setHeader('content-length', Buffer.byteLength(chunk));
  }
  if (req.method === 'HEAD') res.end();
  else res.end(chunk);
  return res;
}

function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): ServerResponse {
  if (!res.getHeader('content-type')) res.setHeader('content-type', 'application/json; charset=utf-8');
  return send(req, res, JSON.stringify(value));
}

/** Reads the body and adds the @vercel/node helpers to a node:http request/response pair. */
export async function adaptToVercel(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<{ req: AdaptedRequest; res: VercelResponse }> {
  const contentType = req.headers['content-type'];
  const raw = contentType === undefined ? Buffer.alloc(0) : await readRequestBody(req);
  if (contentType !== undefined) replayBody(req, raw);
  const vreq = req as AdaptedRequest;
  vreq.rawBody = raw;
  lazy(vreq, 'query', () => parseQuery(req.url));
  lazy(vreq, 'cookies', () => parseCookies(req.headers.cookie));
  lazy(vreq, 'body', () => parseBody(raw, contentType));
  const vres = res as VercelResponse;
  vres.status = (code: number) => {
    res.statusCode = code;
    return vres;
  };
  vres.send = (body: unknown) => send(req, res, body) as VercelResponse;
  vres.json = (value: unknown) => sendJson(req, res, value) as VercelResponse;
  vres.redirect = (statusOrUrl: string | number, url?: string) => {
    const status = typeof statusOrUrl === 'number' ? statusOrUrl : 307;
    const location = typeof statusOrUrl === 'string' ? statusOrUrl : url;
    if (!location) throw new Error('res.redirect needs a URL');
    res.writeHead(status, { location }).end();
    return vres;
  };
  return { req: vreq, res: vres };
}

export type VercelHandler = (req: VercelRequest, res: VercelResponse) => unknown;

/**
 * Runs one handler. An ApiError (bad JSON, body too large) becomes its status, like on Vercel; any
 * other throw is a 500 (Vercel answers FUNCTION_INVOCATION_FAILED), and is passed to onError.
 */
export async function runVercelHandler(
  handler: VercelHandler,
  req: IncomingMessage,
  res: ServerResponse,
  onError: (err: unknown) => void = () => {},
): Promise<void> {
  try {
    const adapted = await adaptToVercel(req, res);
    await handler(adapted.req, adapted.res);
  } catch (err) {
    if (!(err instanceof ApiError)) onError(err);
    if (res.headersSent) {
      res.end();
      return;
    }
    const status = err instanceof ApiError ? err.statusCode : 500;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(err instanceof ApiError ? err.message : 'A server error has occurred\n\nFUNCTION_INVOCATION_FAILED');
  }
}
