import http from 'node:http';
import https from 'node:https';
import type { Client, QstashChatRatelimitError, QstashDailyRatelimitError, QstashError, QstashRatelimitError } from '@upstash/qstash';

/**
 * The QStash client's HTTP calls over a keep-alive node:http(s) agent (issue 18). @upstash/qstash sends
 * every request with the global `fetch` (undici): a Request, Headers and a web ReadableStream per call,
 * ~8 % of the webhook server's CPU in the profile (undici, webstreams, js_transferable) although only
 * the updates that wrote events publish. The client takes no fetch of its own, but its `http` is a
 * public, typed seam (`Requester`): this one keeps the client's message building (the batch body, the
 * Upstash-* headers, the global and telemetry headers) and replaces only the request.
 *
 * Same results and failures as the client's own: the parsed JSON answer; a non-2xx answer as the
 * client's QstashError (429: its rate-limit errors) with the answer's text; a network error is retried
 * as configured (`retries`, `backoff`) and then thrown as Node's error (ECONNREFUSED, ECONNRESET …).
 * Anything but a plain request with a string body (streams, the dev server) goes to the original.
 */
type Requester = Client['http'];
type UpstashRequest = Parameters<Requester['request']>[0];
type ErrorClasses = {
  QstashError: typeof QstashError;
  QstashRatelimitError: typeof QstashRatelimitError;
  QstashChatRatelimitError: typeof QstashChatRatelimitError;
  QstashDailyRatelimitError: typeof QstashDailyRatelimitError;
};

const agents = {
  'http:': new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000 }),
  'https:': new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000 }),
};

export interface LeanRequesterOptions {
  baseUrl: string;
  token: string;
  retries: number;
  backoff: (retryCount: number) => number;
  /** The request is abandoned (socket destroyed, ETIMEDOUT) after this long without an answer. */
  timeoutMs: number;
  errors: ErrorClasses;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function send(url: URL, method: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method,
        agent: agents[url.protocol as keyof typeof agents],
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`QStash request timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    // One write: Node sends the headers together with a body given to end().
    req.end(body);
  });
}

/** The client's HttpClient.getResponseError, on a node:http answer. */
function responseError(a: Answer, errors: ErrorClasses): Error | undefined {
  const h = (name: string) => {
    const v = a.headers[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  };
  if (a.status === 429) {
    if (h('x-ratelimit-limit-requests')) {
      return new errors.QstashChatRatelimitError({
        'limit-requests': h('x-ratelimit-limit-requests'),
        'limit-tokens': h('x-ratelimit-limit-tokens'),
        'remaining-requests': h('x-ratelimit-remaining-requests'),
        'remaining-tokens': h('x-ratelimit-remaining-tokens'),
        'reset-requests': h('x-ratelimit-reset-requests'),
        'reset-tokens': h('x-ratelimit-reset-tokens'),
      });
    }
    if (h('RateLimit-Limit')) return new errors.QstashDailyRatelimitError({ limit: h('RateLimit-Limit'), remaining: h('RateLimit-Remaining'), reset: h('RateLimit-Reset') });
    return new errors.QstashRatelimitError({ limit: h('Burst-RateLimit-Limit'), remaining: h('Burst-RateLimit-Remaining'), reset: h('Burst-RateLimit-Reset') });
  }
  if (a.status < 200 || a.status >= 300) return new errors.QstashError(a.text.length > 0 ? a.text : `Error: status=${a.status}`, a.status);
  return undefined;
}

function headerObject(init: UpstashRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!init) return out;
  const entries: Iterable<[string, string]> =
    init instanceof Headers ? init.entries() : Array.isArray(init) ? (init as [string, string][]) : Object.entries(init as Record<string, string>);
  for (const [k, v] of entries) out[k.toLowerCase()] = v;
  return out;
}

/** A Requester for `client.http`: plain requests over node:http, the rest through `original`. */
export function leanRequester(original: Requester, opts: LeanRequesterOptions): Requester {
  const base = opts.baseUrl.replace(/\/$/, '');
  const authorization = `Bearer ${opts.token}`;
  const lean: Requester = {
    headers: original.headers,
    telemetryHeaders: original.telemetryHeaders,
    requestStream: (req) => original.requestStream(req),
    request: async <T>(req: UpstashRequest) => {
      const r = req as UpstashRequest & { query?: unknown; keepalive?: boolean };
      if ((req.body != null && typeof req.body !== 'string') || r.query !== undefined) return original.request<T>(req);
      const url = new URL([req.baseUrl ?? base, ...req.path].join('/'));
      const headers = headerObject(req.headers);
      headers.authorization ??= authorization;
      const method = req.method ?? 'POST';
      let answer: Answer | undefined;
      let error: unknown;
      for (let i = 0; i <= opts.retries; i++) {
        try {
          answer = await send(url, method, headers, (req.body as string | undefined) ?? '', opts.timeoutMs);
          break;
        } catch (err) {
          error = err;
          if (i < opts.retries) await new Promise((r) => setTimeout(r, opts.backoff(i)));
        }
      }
      if (!answer) throw error ?? new Error('Exhausted all retries');
      const failure = responseError(answer, opts.errors);
      if (failure) throw failure;
      if (req.parseResponseAsJson === false) return undefined as T;
      return JSON.parse(answer.text) as T;
    },
  };
  return lean;
}
