import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * An Upstash-REST-compatible HTTP server in front of a plain Redis, so that the production
 * @upstash/redis client (and @upstash/ratelimit on top of it) runs unmodified in tests:
 *  - POST /            body: one command as a JSON array       → { result } | 400 { error }
 *  - POST /pipeline    body: array of commands (not atomic)    → [{ result } | { error }, …]
 *  - POST /multi-exec  body: array of commands, MULTI/EXEC     → [{ result } | { error }, …]
 *  - Authorization: Bearer <token> (401 otherwise)
 *  - Upstash-Encoding: base64 → every string in a result is base64-encoded (the client decodes).
 * `down = true` makes it answer 503 for everything, to test an unreachable store.
 */
export interface UpstashShim {
  url: string;
  token: string;
  /** Commands served so far. */
  commands: number;
  down: boolean;
  /** Accept requests and never answer (a store that hangs). */
  hang: boolean;
  stop(): Promise<void>;
}

type Command = (string | number | null)[];

function encode(value: unknown): unknown {
  if (typeof value === 'string') return Buffer.from(value, 'utf8').toString('base64');
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(encode);
  return value;
}

function isCommand(c: unknown): c is Command {
  return Array.isArray(c) && c.length > 0 && typeof c[0] === 'string' && c.every((x) => ['string', 'number'].includes(typeof x) || x === null);
}

export async function startUpstashShim(redisUrl: string, token = randomBytes(16).toString('hex')): Promise<UpstashShim> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  // Upstash accepts the `#!lua flags=allow-key-locking` shebang of @upstash/ratelimit's scripts; a
  // Redis 7 server rejects the flag. Like Upstash, accept it: run the script without the shebang and
  // answer EVALSHA for the SHA-1 of the source the client sent.
  const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
  const shaOf = new Map<string, string>();
  const translate = (c: Command): string[] => {
    const args = c.map((x) => (x === null ? '' : String(x)));
    const name = args[0]!.toUpperCase();
    if ((name === 'EVAL' || name === 'EVAL_RO') && args[1]?.startsWith('#!')) {
      const prepared = args[1].replace(/^#![^\n]*/, '--');
      shaOf.set(sha1(args[1]), sha1(prepared));
      args[1] = prepared;
    } else if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && args[1]) {
      args[1] = shaOf.get(args[1].toLowerCase()) ?? args[1];
    } else if (name === 'SCRIPT' && args[1]?.toUpperCase() === 'LOAD' && args[2]?.startsWith('#!')) {
      const prepared = args[2].replace(/^#![^\n]*/, '--');
      shaOf.set(sha1(args[2]), sha1(prepared));
      args[2] = prepared;
      return args;
    }
    return args;
  };
  const run = async (c: Command) => {
    const args = translate(c);
    const res = await redis.call(args[0]!, ...args.slice(1));
    // SCRIPT LOAD answers with the SHA-1 the client will use.
    if (args[0]!.toUpperCase() === 'SCRIPT' && typeof c[2] === 'string' && c[2].startsWith('#!')) return sha1(c[2]);
    return res;
  };
  const shim: UpstashShim = { url: '', token, commands: 0, down: false, hang: false, stop: async () => {} };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (shim.hang) return;
      if (shim.down) return send(503, { error: 'service unavailable (shim down)' });
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { error: 'Unauthorized' });
      if (req.method !== 'POST') return send(405, { error: 'method not allowed' });
      const b64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
      const out = (v: unknown) => (b64 ? encode(v) : v);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, { error: 'ERR failed to parse command' });
      }
      const path = (req.url ?? '/').split('?')[0];
      try {
        if (path === '/' || path === '') {
          if (!isCommand(body)) return send(400, { error: 'ERR invalid command' });
          shim.commands++;
          try {
            return send(200, { result: out(await run(body)) });
          } catch (err) {
            return send(400, { error: (err as Error).message });
          }
        }
        if (path === '/pipeline' || path === '/multi-exec') {
          if (!Array.isArray(body) || !body.every(isCommand)) return send(400, { error: 'ERR invalid pipeline' });
          const cmds = body as Command[];
          shim.commands += cmds.length;
          if (path === '/pipeline') {
            const results = await Promise.all(
              cmds.map((c) => run(c).then((r) => ({ result: out(r) }), (err: Error) => ({ error: err.message }))),
            );
            return send(200, results);
          }
          const multi = redis.multi();
          for (const c of cmds) {
            const args = translate(c);
            multi.call(args[0]!, ...args.slice(1));
          }
          const results = (await multi.exec()) ?? [];
          return send(200, results.map(([err, r]) => (err ? { error: err.message } : { result: out(r) })));
        }
        return send(404, { error: 'not found' });
      } catch (err) {
        return send(500, { error: (err as Error).message });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  shim.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  shim.stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    redis.disconnect();
  };
  return shim;
}
