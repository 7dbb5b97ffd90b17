import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import telegramHandler from '../../api/telegram.js';
import { ConfigError, setConfig } from '../../lib/config.js';
import { getApp, setApp } from '../../lib/app.js';
import { silentLogger } from '../../lib/log.js';
import { listApiRoutes, loadHandler, resolveApiFile } from '../../dev/routes.js';
import { PortInUseError, StartupError, startServer, type RunningServer } from '../../dev/server.js';
import { devToken, TelegramEmulator } from '../../dev/telegram-emulator.js';
import { startPolling } from '../../dev/polling.js';
import { QStashServer, signQStashJwt } from '../support/qstash-server.js';
import { testDatabaseUrl } from '../support/db.js';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const baseEnv = () => ({ DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' });
// A data directory of its own (the dev server keeps its chats there), never the project's .data/.
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-dev-server-'));
afterAll(() => rm(dataDir, { recursive: true, force: true }));
const quiet = { print: () => {}, log: silentLogger, dataDir };

async function json(res: Response) {
  return (await res.json()) as any;
}

/** What the chat page sends. */
const postJson = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm run dev: the same api/* handlers, on a local Telegram', () => {
  let server: RunningServer;
  let fixtures: string;

  beforeAll(async () => {
    server = await startServer({ mode: 'dev', env: baseEnv(), port: 0, ...quiet });
    fixtures = await mkdtemp(path.join(os.tmpdir(), 'dianabot-api-'));
  });
  afterAll(async () => {
    await server?.close();
    await rm(fixtures, { recursive: true, force: true });
  });

  it('serves /api/telegram with the default export of api/telegram.ts, on the app it built', async () => {
    const file = resolveApiFile('/api/telegram');
    expect(file).toBe(path.resolve('api/telegram.ts'));
    expect(await loadHandler(file!)).toBe(telegramHandler);
    expect(await getApp()).toBe(server.app); // api/telegram.ts uses the dev app (setApp)
    const routes = (await listApiRoutes()).map((r) => r.route);
    expect(routes).toContain('/api/telegram');

    // Through HTTP and the adapter: the handler's own answers (secret check, bad JSON).
    const noSecret = await fetch(`${server.url}/api/telegram`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noSecret.status).toBe(401);
    expect(await noSecret.text()).toBe('unauthorized');
    const secret = server.config.TELEGRAM_WEBHOOK_SECRET!;
    const bad = await fetch(`${server.url}/api/telegram`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret },
      body: '{"update_id": 1, ',
    });
    expect(bad.status).toBe(400);
    expect((await fetch(`${server.url}/api/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/api/../package.json`)).status).not.toBe(200);
  });

  it('routes /api/<path> to api/<path>.ts generically, with the @vercel/node request/response helpers', async () => {
    await mkdir(path.join(fixtures, 'nested'), { recursive: true });
    await writeFile(
      path.join(fixtures, 'echo.ts'),
      `export default async function handler(req: any, res: any) {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c);            // the raw bytes, replayed (QStash signatures need them)
        let body: unknown;
        try { body = req.body; } catch (e: any) { return res.status(e.statusCode ?? 500).send(e.message); }
        res.setHeader('x-raw-length', String(Buffer.concat(chunks).length));
        res.status(201).json({ method: req.method, query: req.query, body, raw: Buffer.concat(chunks).toString(), cookies: req.cookies });
      }`,
    );
    await writeFile(path.join(fixtures, 'nested', 'index.ts'), `export default (req: any, res: any) => res.send('nested index');`);
    await writeFile(path.join(fixtures, '_helper.ts'), `export default (req: any, res: any) => res.send('private');`);
    await writeFile(path.join(fixtures, 'broken.ts'), `export default () => { throw new Error('boom'); };`);
    await writeFile(path.join(fixtures, 'nodefault.ts'), `export const x = 1;`);

    expect(resolveApiFile('/api/echo', fixtures)).toBe(path.join(fixtures, 'echo.ts'));
    expect(resolveApiFile('/api/nested', fixtures)).toBe(path.join(fixtures, 'nested', 'index.ts'));
    expect(resolveApiFile('/api/_helper', fixtures)).toBeNull();
    expect(resolveApiFile('/api/../echo', fixtures)).toBeNull();
    expect((await listApiRoutes(fixtures)).map((r) => r.route)).toEqual(['/api/broken', '/api/echo', '/api/nested', '/api/nodefault']);

    const s = await startServer({ mode: 'dev', env: baseEnv(), port: 0, apiDir: fixtures, ...quiet });
    try {
      const raw = '{"a": 1,  "b": [true]}';
      const res = await fetch(`${s.url}/api/echo?x=1&x=2&y=z`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', cookie: 'session=abc%20d' },
        body: raw,
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-raw-length')).toBe(String(raw.length));
      expect(await res.json()).toEqual({ method: 'POST', query: { x: ['1', '2'], y: 'z' }, body: { a: 1, b: [true] }, raw, cookies: { session: 'abc d' } });

      const badJson = await fetch(`${s.url}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{oops' });
      expect(badJson.status).toBe(400);
      expect(await badJson.text()).toBe('Invalid JSON');

      const text = await json(await fetch(`${s.url}/api/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hola' }));
      expect(text.body).toBe('hola');
      const noType = await json(await fetch(`${s.url}/api/echo`));
      expect(noType).toMatchObject({ method: 'GET', raw: '' });

      expect(await (await fetch(`${s.url}/api/nested`)).text()).toBe('nested index');
      expect((await fetch(`${s.url}/api/_helper`)).status).toBe(404);
      expect((await fetch(`${s.url}/api/broken`)).status).toBe(500);
      expect((await fetch(`${s.url}/api/nodefault`)).status).toBe(500);

      // A function added while the server runs is served without a restart.
      await writeFile(path.join(fixtures, 'late.ts'), `export default (req: any, res: any) => res.json({ late: true });`);
      expect(await json(await fetch(`${s.url}/api/late`))).toEqual({ late: true });
    } finally {
      await s.close();
      // One app per process: give api/telegram.ts back to the first server.
      setApp(server.app);
      setConfig(server.config);
    }
  });

  it('a user message becomes a real Update on the webhook, with the secret, and the reply is recorded', async () => {
    const emulator = server.emulator!;
    const user = await json(await postJson(`${server.url}/dev/users`, { first_name: 'Marta', username: 'marta_dev' }));
    const sent = await json(await postJson(`${server.url}/dev/chats/${user.id}/messages`, { text: '/daily' }));
    expect(sent.delivery).toMatchObject({ via: 'webhook', status: 200, body: 'ok' });
    const [row] = await server.app.db<{ kind: string; status: string }[]>`SELECT kind, status FROM telegram_updates WHERE update_id = ${sent.update_id}`;
    expect(row).toEqual({ kind: 'message', status: 'done' });

    const messages = await json(await fetch(`${server.url}/dev/chats/${user.id}/messages`));
    expect(messages.map((m: any) => m.from)).toEqual(['user', 'bot']);
    expect(messages[1].text).toMatch(/Recibiste <b>10 besitos<\/b>/);
    expect(emulator.callsOf('setWebhook').at(-1)?.payload).toMatchObject({ url: expect.stringMatching(/\/api\/telegram$/), secret_token: server.config.TELEGRAM_WEBHOOK_SECRET });
    expect(emulator.commandMenu().map((c) => c.command)).toContain('regalo');

    const ledger = await json(await fetch(`${server.url}/dev/users/${user.id}/ledger`));
    expect(ledger).toMatchObject({ registered: true, besitos: 10, lifetime: 10 });
    expect(ledger.entries[0]).toMatchObject({ amount: 10, source: 'daily', balanceAfter: 10 });

    // Failure paths of the page's endpoints.
    expect((await postJson(`${server.url}/dev/chats/42/messages`, '{"text":"hi"}')).status).toBe(404);
    expect((await postJson(`${server.url}/dev/chats/${user.id}/messages`, 'not json')).status).toBe(400);
    expect((await postJson(`${server.url}/dev/chats/${user.id}/callback`, { message_id: 2, data: 'nope' })).status).toBe(400);
    expect((await postJson(`${server.url}/dev/users`, { first_name: '' })).status).toBe(400);
    expect(await json(await fetch(`${server.url}/dev/users/999/ledger`))).toMatchObject({ registered: false, besitos: 0 });
    // Other web pages cannot drive it: no simple cross-site POST, no DNS rebinding.
    const form = await fetch(`${server.url}/dev/chats/${user.id}/messages`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"text":"/daily"}' });
    expect(form.status).toBe(415);
    const rebound = await new Promise<number>((resolve, reject) => {
      http.get(`${server.url.replace('localhost', '127.0.0.1')}/dev/state`, { headers: { host: `evil.example:${new URL(server.url).port}` } }, (res) => resolve(res.statusCode!)).on('error', reject);
    });
    expect(rebound).toBe(403);
  });

  it('announces messages, edits and callback answers on the event stream', async () => {
    const user = await json(await postJson(`${server.url}/dev/users`, { first_name: 'Eva' }));
    const abort = new AbortController();
    const events: any[] = [];
    const stream = await fetch(`${server.url}/dev/events`, { signal: abort.signal });
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of stream.body as any) {
        buf += decoder.decode(chunk);
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) events.push(JSON.parse(data.slice(6)));
        }
      }
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    const tg = server.app.bot.telegram;
    const msg = await tg.sendMessage(user.id, 'Elige', { reply_markup: { inline_keyboard: [[{ text: 'Sí', callback_data: 'yes' }]] } });
    await tg.editMessageText(user.id, msg.message_id, undefined, '<b>Elegido</b>', { parse_mode: 'HTML' });
    await waitFor(() => events.filter((e) => e.type === 'message' && e.chat_id === user.id).length >= 2);
    const [created, edited] = events.filter((e) => e.type === 'message' && e.chat_id === user.id);
    expect(created.message).toMatchObject({ text: 'Elige', from: 'bot' });
    expect(edited.message).toMatchObject({ message_id: msg.message_id, text: '<b>Elegido</b>', edit_date: expect.any(Number) });
    abort.abort();
    await reading;
  });

  it('refuses a second server on the same port with a message in Spanish and English', async () => {
    const port = Number(new URL(server.url).port);
    const err = await startServer({ mode: 'dev', env: baseEnv(), port, ...quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(PortInUseError);
    expect(err.message).toContain(`El puerto ${port} ya está en uso`);
    expect(err.message).toContain(`Port ${port} is already in use`);
  });
});

describe('npm run dev with QStash configured: signed deliveries reach api/events/* through the adapter', () => {
  it('the subscriber functions verify Upstash-Signature on the raw bytes the server replays', async () => {
    const qstash = await new QStashServer().start();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const s = await startServer({ mode: 'dev', env: { ...baseEnv(), ...qstash.env(url) }, ...quiet, port });
    try {
      expect(s.app.bus.mode).toBe('qstash');
      const user = await json(await postJson(`${s.url}/dev/users`, { first_name: 'Qui' }));
      await postJson(`${s.url}/dev/chats/${user.id}/messages`, { text: '/daily' });
      // gamification.besitos_earned, published to QStash, delivered to each subscriber function.
      const delivered = await waitFor(() => {
        const ok = qstash.attempts.filter((a) => a.destination.startsWith(`${url}/api/events/`) && a.status === 200);
        return ok.length >= 2 ? ok : undefined;
      }, 15_000);
      expect(delivered.length).toBeGreaterThanOrEqual(2);
      expect(qstash.attempts.filter((a) => a.status !== 200)).toEqual([]);

      // The same signature over different bytes is refused: the check really sees the raw body.
      const body = JSON.stringify({ event_id: crypto.randomUUID(), type: 'gamification.besitos_earned' });
      const dest = `${url}/api/events/audit`;
      const signature = signQStashJwt(qstash.currentSigningKey, dest, body);
      const tampered = await fetch(dest, { method: 'POST', headers: { 'content-type': 'application/json', 'upstash-signature': signature }, body: body.replace('{', '{ ') });
      expect(tampered.status).toBe(401);
    } finally {
      await s.close();
      await qstash.stop();
    }
  });
});

describe('npm start: real services only', () => {
  it('refuses to start without DATABASE_URL, TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET, naming each', async () => {
    const err = await startServer({ mode: 'start', env: { LOG_LEVEL: 'silent' }, port: 0, ...quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    for (const v of ['DATABASE_URL', 'TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET']) expect(err.message).toContain(v);
  });

  it('serves the webhook from the environment, with no emulator and no chat page', async () => {
    const token = devToken(1234567);
    const telegram = await new TelegramEmulator({ token }).listen();
    const lines: string[] = [];
    const s = await startServer({
      mode: 'start',
      env: { ...baseEnv(), TELEGRAM_BOT_TOKEN: token, TELEGRAM_WEBHOOK_SECRET: 'start-secret', TELEGRAM_API_ROOT: telegram.url, BOT_USERNAME: 'StartBot', REDIS_URL: 'redis://127.0.0.1:6379' },
      port: 0,
      print: (l) => lines.push(l),
      log: silentLogger,
    });
    try {
      expect(s.emulator).toBeNull();
      expect(s.chatUrl).toBeNull();
      expect(lines.join('\n')).toMatch(/producción \/ production/);
      expect((await fetch(`${s.url}/`)).status).toBe(404);
      expect((await fetch(`${s.url}/dev/state`)).status).toBe(404);
      const userId = 700_000_000 + Math.floor(Math.random() * 1e8);
      const update = {
        update_id: Date.now(),
        message: { message_id: 1, date: 1, text: '/balance', entities: [{ offset: 0, length: 8, type: 'bot_command' }], from: { id: userId, is_bot: false, first_name: 'Rosa' }, chat: { id: userId, type: 'private', first_name: 'Rosa' } },
      };
      const res = await fetch(`${s.url}/api/telegram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'start-secret' },
        body: JSON.stringify(update),
      });
      expect(res.status).toBe(200);
      expect(telegram.messages(userId).map((m) => m.text)).toEqual([expect.stringContaining('Tienes <b>0 besitos</b>')]);
    } finally {
      await s.close();
      await telegram.close();
    }
  });
});

describe('npm run dev with TELEGRAM_BOT_TOKEN: long polling', () => {
  it('deletes the webhook with a warning, then polls updates through the same webhook handler', async () => {
    const token = devToken(2345678);
    const telegram = await new TelegramEmulator({ token, bot: { username: 'RealBot' } }).listen();
    // The real bot still has its production webhook.
    await fetch(`${telegram.url}/bot${token}/setWebhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'https://example.com/api/telegram' }) });
    const lines: string[] = [];
    const s = await startServer({
      mode: 'dev',
      env: { ...baseEnv(), TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: telegram.url },
      port: 0,
      print: (l) => lines.push(l),
      log: silentLogger,
    });
    try {
      expect(lines.join('\n')).toContain('se borra su webhook (https://example.com/api/telegram)');
      expect(lines.join('\n')).toContain('its webhook is deleted');
      expect(lines.join('\n')).toContain('@RealBot');
      expect(s.emulator).toBeNull();
      expect(s.chatUrl).toBeNull();
      expect(telegram.callsOf('deleteWebhook')).toHaveLength(1);

      const userId = 800_000_000 + Math.floor(Math.random() * 1e8);
      telegram.addUser({ id: userId, first_name: 'Pola' });
      const sent = await telegram.sendText(userId, '/daily');
      expect(sent.delivery.via).toBe('getUpdates');
      await waitFor(() => telegram.messages(userId).find((m) => m.from === 'bot'));
      expect(telegram.messages(userId)[1]!.text).toMatch(/Recibiste <b>10 besitos<\/b>/);
      const [row] = await s.app.db<{ status: string }[]>`SELECT status FROM telegram_updates WHERE update_id = ${sent.update_id}`;
      expect(row?.status).toBe('done');
      // Confirmed: the next getUpdates asks past it.
      await telegram.sendText(userId, '/balance');
      await waitFor(() => telegram.messages(userId).filter((m) => m.from === 'bot').length >= 2);
      expect(telegram.messages(userId).at(-1)!.text).toContain('Tienes <b>10 besitos</b>');
      const offsets = telegram.callsOf('getUpdates').map((c) => Number(c.payload.offset ?? 0));
      expect(offsets).toContain(sent.update_id + 1);
    } finally {
      await s.close();
      await telegram.close();
    }
  });

  it('a token Telegram refuses stops start-up with a message, not a stack trace', async () => {
    const telegram = await new TelegramEmulator({ token: devToken(1111111) }).listen();
    try {
      const err = await startServer({ mode: 'dev', env: { ...baseEnv(), TELEGRAM_BOT_TOKEN: devToken(2222222), TELEGRAM_API_ROOT: telegram.url }, ...quiet, port: 0 }).catch((e) => e);
      expect(err).toBeInstanceOf(StartupError);
      expect(err.message).toContain('token inválido / invalid token');
      expect(err.message).toContain('Unset TELEGRAM_BOT_TOKEN to use the local emulator');
    } finally {
      await telegram.close();
    }
  });

  it('retries an update the handler answers 5xx for, and confirms it only after a 2xx', async () => {
    const token = devToken(3456789);
    const emulator = await new TelegramEmulator({ token }).listen();
    const { Telegram } = await import('telegraf');
    const seen: number[] = [];
    let fail = 2;
    const poller = startPolling({
      telegram: new Telegram(token, { apiRoot: emulator.url }),
      secret: 's',
      log: silentLogger,
      timeoutSeconds: 1,
      backoffMs: 10,
      webhook: async (req) => {
        const update = JSON.parse(String(req.body));
        expect(req.headers['x-telegram-bot-api-secret-token']).toBe('s');
        seen.push(update.update_id);
        return fail-- > 0 ? { status: 503, body: 'retry later' } : { status: 200, body: 'ok' };
      },
    });
    try {
      emulator.addUser({ id: 5, first_name: 'X' });
      const { update_id } = await emulator.sendText(5, 'hola');
      await waitFor(() => poller.handled >= 1);
      expect(seen).toEqual([update_id, update_id, update_id]);
      await waitFor(() => emulator.callsOf('getUpdates').some((c) => Number(c.payload.offset) === update_id + 1));
    } finally {
      await poller.stop();
      await emulator.close();
    }
  });
});
