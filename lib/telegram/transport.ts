import http from 'node:http';
import https from 'node:https';
import { TelegramError, type Telegram } from 'telegraf';

/**
 * A leaner transport for telegraf's Bot API client (issue 18). telegraf sends every call through
 * node-fetch: a Request and Response object, a body stream, the headers and the body in separate
 * socket writes. On the webhook's hot path that cost ~0.1–0.17 ms of CPU per call more than a plain
 * node:http request with the body written together with the headers (BENCHMARKS.md, "CPU per
 * update"). Calls whose payload is JSON take this path; uploads (multipart) and webhook replies keep
 * telegraf's own client. Results and failures are the same: the method's `result`, a TelegramError
 * for a Bot API refusal or a 5xx, Node's network error (code ECONNRESET, ECONNREFUSED, ETIMEDOUT …)
 * otherwise, which lib/bot/telegram-retry.ts treats as transient as before.
 */
const agents = {
  'http:': new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000 }),
  'https:': new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000 }),
};

/** telegraf's own limit on a call (its client passes timeout: 500000 to node-fetch). */
const TIMEOUT_MS = 500_000;

/** The same test as telegraf's client (core/network/client.js includesMedia): such payloads are uploads. */
function includesMedia(payload: Record<string, unknown>): boolean {
  const isInput = (v: any) => v && typeof v === 'object' && (v.source || v.url || (v.media && typeof v.media === 'object' && (v.media.source || v.media.url)));
  for (const [key, value] of Object.entries(payload)) {
    if (key === 'link_preview_options') continue;
    if (Array.isArray(value) ? value.some((v) => v?.media && typeof v.media === 'object' && (v.media.source || v.media.url)) : isInput(value)) return true;
  }
  return false;
}

/** Drops null and undefined fields, as telegraf's JSON.stringify replacer does. */
const replacer = (_: string, value: unknown) => (value == null ? undefined : value);

type ClientInternals = { token: string; options: { apiRoot: string; apiMode: string; testEnv: boolean; webhookReply: boolean }; response?: unknown };

const installed = new WeakSet<object>();

/** Sends this client's JSON calls over node:http(s) directly (idempotent; wrap retries and conventions around it). */
export function withLeanTransport(telegram: Telegram): void {
  if (installed.has(telegram)) return;
  installed.add(telegram);
  const client = telegram as unknown as ClientInternals;
  const original = telegram.callApi.bind(telegram) as (method: string, payload?: unknown, opts?: { signal?: AbortSignal }) => Promise<unknown>;
  let base: URL | undefined;
  telegram.callApi = ((method: string, payload: Record<string, unknown> = {}, opts: { signal?: AbortSignal } = {}) => {
    const { token, options } = client;
    if ((options.webhookReply && client.response) || !token || includesMedia(payload)) return original(method, payload, opts);
    base ??= new URL(`./${options.apiMode}${token}${options.testEnv ? '/test' : ''}/`, options.apiRoot);
    return post(base, method, payload, opts.signal);
  }) as typeof telegram.callApi;
}

function post(base: URL, method: string, payload: Record<string, unknown>, signal?: AbortSignal): Promise<unknown> {
  const body = JSON.stringify(payload, replacer);
  const agent = agents[base.protocol as keyof typeof agents];
  return new Promise((resolve, reject) => {
    const req = (base.protocol === 'https:' ? https : http).request(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        path: `${base.pathname}${method}`,
        method: 'POST',
        agent,
        signal,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 500) return reject(new TelegramError({ error_code: status, description: res.statusMessage ?? 'Server Error' }, { method, payload }));
          let data: { ok: boolean; result?: unknown; error_code: number; description: string; parameters?: object };
          try {
            data = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(new Error(`Bot API ${method}: answer with status ${status} is not JSON`));
          }
          if (!data.ok) return reject(new TelegramError(data, { method, payload }));
          resolve(data.result);
        });
      },
    );
    req.setTimeout(TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`Bot API ${method} timed out`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    // One write: Node sends the headers together with a body given to end().
    req.end(body);
  });
}
