import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Input, Telegram, TelegramError } from 'telegraf';
import { isTransientTelegramError } from '../../lib/bot/telegram-retry.js';
import { withLeanTransport } from '../../lib/telegram/transport.js';
import { BotApiStub } from '../support/bot-api-stub.js';

/**
 * lib/telegram/transport.ts must be invisible to callers: the same results and the same failures as
 * telegraf's own client for the same Bot API answers, with one request per call on the wire.
 */
const TOKEN = '123456:TRANSPORT-test-token';
let stub: BotApiStub;
const clients = () => {
  const plain = new Telegram(TOKEN, { apiRoot: stub.url, webhookReply: false });
  const lean = new Telegram(TOKEN, { apiRoot: stub.url, webhookReply: false });
  withLeanTransport(lean);
  return { plain, lean };
};
/** The outcome of a call, comparable across clients. */
const outcome = (p: Promise<unknown>) =>
  p.then(
    (result) => ({ result }),
    (err) => ({ error: err instanceof TelegramError ? { telegram: err.code, description: err.description, parameters: err.parameters, transient: isTransientTelegramError(err) } : { code: (err as { code?: string }).code, transient: isTransientTelegramError(err) } }),
  );

beforeAll(async () => {
  stub = await new BotApiStub().start();
});
afterAll(() => stub.stop());

describe('lean Bot API transport', () => {
  it('returns what telegraf returns, with the payload the stub receives unchanged (nulls dropped)', async () => {
    const { plain, lean } = clients();
    const payload = { chat_id: 7, text: 'Hola <b>ñ</b> 💋', parse_mode: 'HTML', reply_to_message_id: undefined, reply_markup: { inline_keyboard: [[{ text: 'Sí', callback_data: 'g:y:1' }]] } };
    const a = await outcome(plain.callApi('sendMessage', payload as never));
    const b = await outcome(lean.callApi('sendMessage', payload as never));
    expect({ ...(b as { result: { message_id: number } }).result, message_id: 0, date: 0 }).toEqual({ ...(a as { result: { message_id: number } }).result, message_id: 0, date: 0 });
    const [p1, p2] = stub.callsOf('sendMessage').slice(-2).map((c) => c.payload);
    expect(p2).toEqual(p1);
    expect(p2).not.toHaveProperty('reply_to_message_id');
  });

  it('fails like telegraf on a 400, a 429 with retry_after and a 5xx', async () => {
    const { plain, lean } = clients();
    for (const [status, extra] of [
      [400, { description: 'Bad Request: query is too old and response timeout expired or query ID is invalid' }],
      [429, { parameters: { retry_after: 3 } }],
      [502, {}],
    ] as const) {
      stub.failNext('answerCallbackQuery', 1, status, extra);
      const a = await outcome(plain.callApi('answerCallbackQuery', { callback_query_id: 'q' } as never));
      stub.failNext('answerCallbackQuery', 1, status, extra);
      const b = await outcome(lean.callApi('answerCallbackQuery', { callback_query_id: 'q' } as never));
      expect(b).toEqual(a);
      expect(b).toHaveProperty('error');
    }
  });

  it('a refused connection is a transient network error, as with telegraf', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const lean = new Telegram(TOKEN, { apiRoot: `http://127.0.0.1:${port}`, webhookReply: false });
    withLeanTransport(lean);
    expect(await outcome(lean.callApi('getMe', {} as never))).toEqual({ error: { code: 'ECONNREFUSED', transient: true } });
  });

  it('an answer that is not JSON (a proxy error page) fails the call', async () => {
    const html = http.createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not Found</html>'));
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    const lean = new Telegram(TOKEN, { apiRoot: `http://127.0.0.1:${(html.address() as AddressInfo).port}`, webhookReply: false });
    withLeanTransport(lean);
    await expect(lean.callApi('getMe', {} as never)).rejects.toThrow(/not JSON/);
    html.closeAllConnections();
    await new Promise<void>((r) => html.close(() => r()));
  });

  it('uploads keep telegraf client (multipart)', async () => {
    const { lean } = clients();
    await lean.sendDocument(9, Input.fromBuffer(Buffer.from('{"a":1}'), 'datos.json'), { caption: 'Tus datos' });
    const call = stub.callsOf('sendDocument').at(-1)!;
    expect(call.payload.document).toMatchObject({ filename: 'datos.json', size: 7 });
    expect(call.payload.caption).toBe('Tus datos');
  });
});
