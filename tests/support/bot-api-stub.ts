import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  method: string;
  payload: Record<string, any>;
  at: number;
  /** What the stub answered (e.g. the sent message, with its message_id). */
  result?: any;
  /** The call came in a webhook response (a webhook reply), not as a request of the bot. */
  viaWebhookReply?: true;
}

interface Fault {
  method: string | '*';
  status: number;
  body: Record<string, unknown>;
}

/**
 * A local stand-in for the Telegram Bot API: answers /bot<token>/<method> with Bot API JSON,
 * records every call, and can be told to fail (429 with retry_after, 5xx) to test retries.
 */
export class BotApiStub {
  readonly calls: RecordedCall[] = [];
  private faults: Fault[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));
  private nextMessageId = 1;
  /** The value the next sendDice answers with (Telegram picks it at random). */
  diceValue = 3;
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** The next `times` calls of `method` fail with the given answer. */
  failNext(method: string | '*', times: number, status: number, extra: Record<string, unknown> = {}): void {
    const body = { ok: false, error_code: status, description: status === 429 ? 'Too Many Requests: retry later' : 'Internal Server Error', ...extra };
    for (let i = 0; i < times; i++) this.faults.push({ method, status, body });
  }

  /**
   * What Telegram does with a webhook's 2xx answer whose JSON body is a method call: runs it. The call
   * is recorded like a request (a queued failNext applies, and like Telegram's it reaches nobody).
   */
  webhookReply(res: { status: number; body: string; contentType?: string }): void {
    if (res.status < 200 || res.status >= 300 || res.contentType !== 'application/json') return;
    const { method, ...payload } = JSON.parse(res.body) as { method: string } & Record<string, any>;
    const faultIndex = this.faults.findIndex((f) => f.method === '*' || f.method === method);
    if (faultIndex >= 0) {
      this.faults.splice(faultIndex, 1);
      this.calls.push({ method: `${method}!failed`, payload, at: Date.now(), viaWebhookReply: true });
      return;
    }
    this.calls.push({ method, payload, at: Date.now(), result: this.result(method, payload), viaWebhookReply: true });
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  sentTexts(chatId?: number): string[] {
    return this.callsOf('sendMessage')
      .filter((c) => chatId === undefined || Number(c.payload.chat_id) === chatId)
      .map((c) => String(c.payload.text));
  }

  reset(): void {
    this.calls.length = 0;
    this.faults = [];
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const match = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!match) return send(404, { ok: false, error_code: 404, description: 'Not Found' });
      const method = match[2]!;
      let payload: Record<string, any> = {};
      const body = Buffer.concat(chunks);
      const raw = body.toString();
      const type = String(req.headers['content-type'] ?? '');
      if (type.includes('multipart/form-data')) {
        // An upload (sendPhoto with a file …): fields as strings, files as { filename, type, size, bytes }; _raw as before.
        payload._raw = raw;
        const form = await new Request('http://stub/', { method: 'POST', headers: { 'content-type': type }, body }).formData();
        for (const [k, v] of form) {
          payload[k] = typeof v === 'string' ? v : { filename: v.name, type: v.type, size: v.size, bytes: Buffer.from(await v.arrayBuffer()) };
        }
      } else if (raw) {
        try {
          payload = JSON.parse(raw);
        } catch {
          payload = { _raw: raw };
        }
      }
      const faultIndex = this.faults.findIndex((f) => f.method === '*' || f.method === method);
      if (faultIndex >= 0) {
        const [fault] = this.faults.splice(faultIndex, 1);
        this.calls.push({ method: `${method}!failed`, payload, at: Date.now() });
        return send(fault!.status, fault!.body);
      }
      const result = this.result(method, payload);
      this.calls.push({ method, payload, at: Date.now(), result });
      send(200, { ok: true, result });
    });
  }

  private result(method: string, payload: Record<string, any>): unknown {
    const date = Math.floor(Date.now() / 1000);
    switch (method) {
      case 'getMe':
        return { id: 123456, is_bot: true, first_name: 'DianaBot', username: 'DianaTestBot', can_join_groups: true };
      case 'createInvoiceLink':
        return `https://t.me/$inv${this.nextMessageId++}`;
      case 'createChatInviteLink':
        return { invite_link: `https://t.me/+link${this.nextMessageId++}`, creator: { id: 123456, is_bot: true, first_name: 'DianaBot' }, creates_join_request: false, is_primary: false, is_revoked: false, ...payload };
      case 'sendMessage':
      case 'sendInvoice':
      case 'sendDocument':
      case 'editMessageText':
        return {
          message_id: payload.message_id ?? this.nextMessageId++,
          date,
          chat: { id: Number(payload.chat_id), type: 'private' },
          from: { id: 123456, is_bot: true, first_name: 'DianaBot' },
          text: payload.text,
        };
      case 'sendDice':
        return { ...this.message(payload, date), dice: { emoji: payload.emoji ?? '🎲', value: this.diceValue } };
      case 'sendPhoto':
      case 'sendAnimation':
      case 'sendVideo':
        return { ...this.message(payload, date), caption: payload.caption };
      default:
        return true;
    }
  }

  private message(payload: Record<string, any>, date: number) {
    return { message_id: this.nextMessageId++, date, chat: { id: Number(payload.chat_id), type: 'private' }, from: { id: 123456, is_bot: true, first_name: 'DianaBot' } };
  }
}
