import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { parseTelegramHtml, plainText } from './public/telegram-html.js';

/**
 * A local Telegram: the Bot API endpoints the bot calls (/bot<token>/<method>), answered like
 * Telegram answers them (same result shapes, same "Bad Request: …" refusals for bad HTML, unchanged
 * edits, too-long texts), plus the user side: people typing and pressing buttons, delivered to the
 * bot as real Update JSON — POSTed to the webhook with the secret header when one is set
 * (setWebhook), or queued for getUpdates otherwise (long polling).
 * Everything is recorded per chat and announced on `events` for the chat page.
 */

export interface EmulatorUser {
  id: number;
  is_bot: false;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
  /** The user blocked the bot: sends to them fail with 403, as on Telegram. */
  blocked?: boolean;
}

export interface StoredFile {
  file_id: string;
  file_unique_id: string;
  file_name?: string;
  mime_type?: string;
  file_size: number;
  bytes?: Buffer;
}

export interface EmulatedMessage {
  message_id: number;
  chat_id: number | string;
  from: 'user' | 'bot';
  /** The Bot API method that produced a bot message (sendMessage, sendDocument …). */
  method?: string;
  date: number;
  text?: string;
  caption?: string;
  parse_mode?: string;
  reply_markup?: InlineKeyboardMarkup | Record<string, unknown>;
  document?: Omit<StoredFile, 'bytes'>;
  /** For media the emulator does not draw (photo, video …): what was sent. */
  media?: { kind: string; summary: string };
  /** sendDice: the emoji and the value the emulator drew (as Telegram, at random). */
  dice?: { emoji: string; value: number };
  /** sendInvoice: the invoice the chat page shows with a Pay button. */
  invoice?: InvoiceInfo;
  edit_date?: number;
  deleted?: boolean;
  /** Reactions in the test group: user id → emoji (the page shows them under the message). */
  reactions?: Record<string, string>;
  /** Who wrote a user message (groups have several). */
  sender?: { id: number; first_name: string; username?: string };
  /** The message this one answers (reply_to_message). */
  reply_to?: number;
}

/** A test group: every test user is a member, so the bot sees their messages as in a real group. */
export interface EmulatorGroup {
  id: number;
  title: string;
}

/** A Stars invoice (sendInvoice, or createInvoiceLink behind a https://t.me/$… link). */
export interface InvoiceInfo {
  title: string;
  description: string;
  currency: string;
  total_amount: number;
  payload: string;
  /** createInvoiceLink only: a Stars subscription renewed every period (2592000 s). */
  subscription_period?: number;
  /** Set once paid (one charge per invoice message in the emulator). */
  paid_charge_id?: string;
}

export interface InlineKeyboardButton {
  text: string;
  callback_data?: string;
  url?: string;
  [key: string]: unknown;
}
export interface InlineKeyboardMarkup {
  inline_keyboard: InlineKeyboardButton[][];
}

export type EmulatorEvent =
  | { type: 'message'; chat_id: number | string; message: EmulatedMessage }
  | { type: 'toast'; chat_id: number | string; text: string; show_alert: boolean }
  | { type: 'action'; chat_id: number | string; action: string }
  | { type: 'callback'; chat_id: number | string; callback_query_id: string; message_id: number; answered: boolean }
  | { type: 'rejected'; chat_id: number | string | null; method: string; description: string }
  | { type: 'delivery'; chat_id: number | string | null; update_id: number; status: number; body: string }
  | { type: 'users' };

export interface RecordedCall {
  method: string;
  payload: Record<string, any>;
  ok: boolean;
  at: number;
}

export interface EmulatorOptions {
  token: string;
  bot?: { id?: number; first_name?: string; username?: string };
  /** 5xx answers from the webhook are retried this many times (Telegram keeps retrying for longer). */
  webhookRetries?: number;
  retryDelayMs?: number;
}

class BotApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: Record<string, unknown>,
  ) {
    super(description);
  }
}
const badRequest = (what: string) => new BotApiError(400, `Bad Request: ${what}`);

const MEDIA_METHODS: Record<string, string> = {
  sendDocument: 'document',
  sendPhoto: 'photo',
  sendVideo: 'video',
  sendAudio: 'audio',
  sendVoice: 'voice',
  sendAnimation: 'animation',
  sendVideoNote: 'video_note',
  sendSticker: 'sticker',
};
const JSON_FIELDS = ['reply_markup', 'entities', 'caption_entities', 'link_preview_options', 'reply_parameters', 'media', 'commands', 'scope', 'allowed_updates', 'prices'];

export class TelegramEmulator {
  readonly events = new EventEmitter();
  readonly calls: RecordedCall[] = [];
  readonly users = new Map<number, EmulatorUser>();
  readonly groups = new Map<number, EmulatorGroup>();
  readonly bot: { id: number; is_bot: true; first_name: string; username: string };
  private readonly chats = new Map<string, { nextId: number; messages: EmulatedMessage[] }>();
  private readonly files = new Map<string, StoredFile>();
  private readonly pendingCallbacks = new Map<string, { chat_id: number; message_id: number; timer: NodeJS.Timeout }>();
  private readonly queue: Record<string, unknown>[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly warned = new Set<string>();
  private webhook: { url: string; secret_token?: string; allowed_updates?: string[] } | null = null;
  private readonly invoiceLinks = new Map<string, InvoiceInfo>();
  private readonly pendingCheckouts = new Map<string, (answer: { ok: boolean; error_message?: string }) => void>();
  private commands: { command: string; description: string }[] = [];
  private nextUpdateId = Date.now(); // grows across restarts, so a persistent inbox never sees an id twice
  private server: http.Server | undefined;
  url = '';

  constructor(readonly options: EmulatorOptions) {
    this.events.setMaxListeners(100);
    const id = options.bot?.id ?? Number(options.token.split(':')[0]);
    this.bot = {
      id,
      is_bot: true,
      first_name: options.bot?.first_name ?? 'DianaBot',
      username: options.bot?.username ?? 'DianaDevBot',
    };
  }

  /** Standalone mode: its own HTTP server (the dev server mounts `handle` on its own instead). */
  async listen(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      if (!this.handle(req, res)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }));
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const w of this.waiters) w();
    for (const p of this.pendingCallbacks.values()) clearTimeout(p.timer);
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  // ─── Bot side: the Bot API ────────────────────────────────────────────────────────────────

  /** Handles /bot<token>/<method>; returns false for any other path. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const match = /^\/bot([^/]+)\/([A-Za-z]+)\/?(?:\?.*)?$/.exec(req.url ?? '');
    if (!match) return false;
    const [, token, method] = match as unknown as [string, string, string];
    const reply = (status: number, body: unknown) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    (async () => {
      if (token !== this.options.token) throw new BotApiError(401, 'Unauthorized');
      const payload = await readPayload(req);
      try {
        const result = await this.call(method, payload);
        this.calls.push({ method, payload: stripBytes(payload), ok: true, at: Date.now() });
        reply(200, { ok: true, result });
      } catch (err) {
        this.calls.push({ method, payload: stripBytes(payload), ok: false, at: Date.now() });
        if (err instanceof BotApiError && (err.code === 400 || err.code === 403)) {
          this.emit({ type: 'rejected', chat_id: (payload.chat_id as number) ?? null, method, description: err.description });
        }
        throw err;
      }
    })().catch((err) => {
      if (err instanceof BotApiError) {
        return reply(err.code, { ok: false, error_code: err.code, description: err.description, ...(err.parameters ? { parameters: err.parameters } : {}) });
      }
      reply(500, { ok: false, error_code: 500, description: `Internal Server Error: ${(err as Error).message}` });
    });
    return true;
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && c.ok);
  }

  private async call(method: string, p: Record<string, any>): Promise<unknown> {
    switch (method) {
      case 'getMe':
        return { ...this.bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };
      case 'logOut':
      case 'close':
        return true;
      case 'getUpdates':
        return this.getUpdates(p);
      case 'setWebhook': {
        if (!p.url) return this.deleteWebhook(p);
        if (p.secret_token !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(String(p.secret_token))) {
          throw badRequest('secret token contains unallowed characters');
        }
        this.webhook = { url: String(p.url), secret_token: p.secret_token, allowed_updates: p.allowed_updates };
        if (p.drop_pending_updates) this.queue.length = 0;
        return true;
      }
      case 'deleteWebhook':
        return this.deleteWebhook(p);
      case 'getWebhookInfo':
        return {
          url: this.webhook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: this.queue.length,
          ...(this.webhook?.allowed_updates ? { allowed_updates: this.webhook.allowed_updates } : {}),
        };
      case 'setMyCommands':
        if (!Array.isArray(p.commands)) throw badRequest('parameter "commands" is required');
        if (!p.scope && !p.language_code) this.commands = p.commands.map((c: any) => ({ command: String(c.command), description: String(c.description) }));
        return true;
      case 'getMyCommands':
        return this.commands;
      case 'deleteMyCommands':
        if (!p.scope && !p.language_code) this.commands = [];
        return true;
      case 'sendMessage':
        return this.botMessage(method, p, { text: this.checkText(p.text, p.parse_mode, 4096, 'message') });
      case 'sendDice': {
        const emoji = String(p.emoji ?? '🎲');
        const max = ({ '🎲': 6, '🎯': 6, '🎳': 6, '🏀': 5, '⚽': 5, '🎰': 64 } as Record<string, number>)[emoji];
        if (!max) throw badRequest('wrong emoji');
        const value = 1 + Math.floor(Math.random() * max);
        return this.botMessage(method, p, { dice: { emoji, value }, media: { kind: 'dice', summary: `${emoji} ${value}` } });
      }
      case 'editMessageText':
        return this.editMessage(p, (m) => {
          const text = this.checkText(p.text, p.parse_mode, 4096, 'message');
          if (m.text === undefined) throw badRequest('there is no text in the message to edit');
          const same = m.text === text && (m.parse_mode ?? null) === (p.parse_mode ?? null) && sameMarkup(m.reply_markup, p.reply_markup);
          if (same) throw badRequest('message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
          m.text = text;
          m.parse_mode = p.parse_mode;
          m.reply_markup = p.reply_markup;
        });
      case 'editMessageCaption':
        return this.editMessage(p, (m) => {
          const caption = p.caption === undefined ? undefined : this.checkText(p.caption, p.parse_mode, 1024, 'caption');
          m.caption = caption;
          m.parse_mode = p.parse_mode;
          m.reply_markup = p.reply_markup;
        });
      case 'editMessageReplyMarkup':
        return this.editMessage(p, (m) => {
          if (sameMarkup(m.reply_markup, p.reply_markup)) {
            throw badRequest('message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
          }
          m.reply_markup = p.reply_markup;
        });
      case 'deleteMessage': {
        const m = this.findMessage(p.chat_id, Number(p.message_id));
        if (!m || m.deleted) throw badRequest('message to delete not found');
        m.deleted = true;
        this.emit({ type: 'message', chat_id: m.chat_id, message: m });
        return true;
      }
      case 'deleteMessages':
        for (const id of (p.message_ids as number[]) ?? []) {
          const m = this.findMessage(p.chat_id, Number(id));
          if (m && !m.deleted) {
            m.deleted = true;
            this.emit({ type: 'message', chat_id: m.chat_id, message: m });
          }
        }
        return true;
      case 'answerCallbackQuery': {
        const pending = this.pendingCallbacks.get(String(p.callback_query_id));
        if (!pending) throw badRequest('query is too old and response timeout expired or query ID is invalid');
        clearTimeout(pending.timer);
        this.pendingCallbacks.delete(String(p.callback_query_id));
        this.emit({ type: 'callback', chat_id: pending.chat_id, callback_query_id: String(p.callback_query_id), message_id: pending.message_id, answered: true });
        if (p.text) this.emit({ type: 'toast', chat_id: pending.chat_id, text: String(p.text), show_alert: Boolean(p.show_alert) });
        return true;
      }
      case 'sendInvoice': {
        const invoice = checkInvoice(p);
        if (p.subscription_period !== undefined) throw badRequest('SUBSCRIPTION_PERIOD_INVALID');
        return this.botMessage(method, p, { invoice });
      }
      case 'createInvoiceLink': {
        const invoice = checkInvoice(p);
        if (p.subscription_period !== undefined && Number(p.subscription_period) !== 2_592_000) throw badRequest('SUBSCRIPTION_PERIOD_INVALID');
        const slug = randomBytes(6).toString('base64url');
        this.invoiceLinks.set(slug, { ...invoice, ...(p.subscription_period ? { subscription_period: Number(p.subscription_period) } : {}) });
        return `https://t.me/$${slug}`;
      }
      case 'answerPreCheckoutQuery': {
        const resolve = this.pendingCheckouts.get(String(p.pre_checkout_query_id));
        if (!resolve) throw badRequest('query is too old and response timeout expired or query ID is invalid');
        if (!p.ok && !p.error_message) throw badRequest('error_message is required when ok is false');
        this.pendingCheckouts.delete(String(p.pre_checkout_query_id));
        resolve({ ok: Boolean(p.ok), error_message: p.error_message });
        return true;
      }
      case 'refundStarPayment':
      case 'editUserStarSubscription':
      case 'approveChatJoinRequest':
      case 'declineChatJoinRequest':
      case 'banChatMember':
      case 'unbanChatMember':
        return true;
      case 'sendChatAction':
        this.emit({ type: 'action', chat_id: normalizeChatId(p.chat_id), action: String(p.action ?? 'typing') });
        return true;
      default:
        if (method in MEDIA_METHODS) return this.mediaMessage(method, p);
        if (method.startsWith('send') || method === 'copyMessage' || method === 'forwardMessage') {
          this.warnOnce(method);
          return this.botMessage(method, p, { media: { kind: method, summary: summarize(p) } });
        }
        this.warnOnce(method);
        return true;
    }
  }

  private warnOnce(method: string) {
    if (this.warned.has(method)) return;
    this.warned.add(method);
    console.warn(`[emulador] ${method}: el emulador solo lo registra / the emulator only records this call`);
  }

  private deleteWebhook(p: Record<string, any>) {
    this.webhook = null;
    if (p.drop_pending_updates) this.queue.length = 0;
    return true;
  }

  private checkText(value: unknown, parseMode: unknown, max: number, what: 'message' | 'caption'): string {
    const text = value === undefined || value === null ? '' : String(value);
    let visible = text;
    if (parseMode === 'HTML') {
      const parsed = parseTelegramHtml(text);
      if (parsed.error) throw badRequest(`can't parse entities: ${parsed.error}`);
      visible = plainText(parsed.nodes);
    } else if (parseMode !== undefined && parseMode !== 'MarkdownV2' && parseMode !== 'Markdown') {
      throw badRequest(`unsupported parse_mode`);
    }
    if (what === 'message' && visible.trim() === '') throw badRequest('message text is empty');
    if (visible.length > max) throw badRequest(`${what === 'message' ? 'message' : 'message caption'} is too long`);
    return text;
  }

  private chat(chatId: number | string) {
    const key = String(chatId);
    let chat = this.chats.get(key);
    if (!chat) {
      chat = { nextId: 1, messages: [] };
      this.chats.set(key, chat);
    }
    return chat;
  }

  private botMessage(method: string, p: Record<string, any>, content: Partial<EmulatedMessage>): Record<string, unknown> {
    if (p.chat_id === undefined || p.chat_id === '') throw badRequest('chat_id is empty');
    const chatId = normalizeChatId(p.chat_id);
    const user = typeof chatId === 'number' ? this.users.get(chatId) : undefined;
    if (user?.blocked) throw new BotApiError(403, 'Forbidden: bot was blocked by the user');
    validateMarkup(p.reply_markup);
    const chat = this.chat(chatId);
    const replyTo = Number(p.reply_parameters?.message_id ?? p.reply_to_message_id);
    const message: EmulatedMessage = {
      message_id: chat.nextId++,
      chat_id: chatId,
      from: 'bot',
      method,
      date: Math.floor(Date.now() / 1000),
      parse_mode: p.parse_mode,
      reply_markup: p.reply_markup,
      ...(Number.isSafeInteger(replyTo) && replyTo > 0 ? { reply_to: replyTo } : {}),
      ...content,
    };
    chat.messages.push(message);
    this.emit({ type: 'message', chat_id: chatId, message });
    return this.toTelegram(message);
  }

  private mediaMessage(method: string, p: Record<string, any>) {
    const kind = MEDIA_METHODS[method]!;
    const input = p[kind];
    if (input === undefined || input === '') throw badRequest(`there is no ${kind} in the request`);
    const caption = p.caption === undefined ? undefined : this.checkText(p.caption, p.parse_mode, 1024, 'caption');
    let file: StoredFile;
    if (isUpload(input)) {
      file = this.storeFile(input.bytes, input.name, input.type);
    } else if (typeof input === 'string' && this.files.has(input)) {
      file = this.files.get(input)!;
    } else if (typeof input === 'string') {
      file = this.storeFile(Buffer.alloc(0), input.split('/').pop() || kind, undefined);
    } else {
      throw badRequest(`wrong ${kind} in the request`);
    }
    const { bytes: _bytes, ...meta } = file;
    const content: Partial<EmulatedMessage> =
      kind === 'document' ? { document: meta, caption } : { caption, media: { kind, summary: meta.file_name ?? kind }, document: meta };
    return this.botMessage(method, p, content);
  }

  private storeFile(bytes: Buffer, name: string | undefined, type: string | undefined): StoredFile {
    const id = `dev-${randomBytes(9).toString('base64url')}`;
    const file: StoredFile = {
      file_id: id,
      file_unique_id: id.slice(4, 14),
      file_name: name,
      mime_type: mimeOf(name, type),
      file_size: bytes.length,
      bytes: bytes.length <= 20 * 1024 * 1024 ? bytes : undefined,
    };
    this.files.set(id, file);
    return file;
  }

  file(fileId: string): StoredFile | undefined {
    return this.files.get(fileId);
  }

  private editMessage(p: Record<string, any>, apply: (m: EmulatedMessage) => void) {
    if (p.inline_message_id) return true;
    const m = this.findMessage(p.chat_id, Number(p.message_id));
    if (!m || m.deleted) throw badRequest('message to edit not found');
    if (m.from !== 'bot') throw badRequest("message can't be edited");
    validateMarkup(p.reply_markup);
    apply(m);
    m.edit_date = Math.floor(Date.now() / 1000);
    this.emit({ type: 'message', chat_id: m.chat_id, message: m });
    return this.toTelegram(m);
  }

  private findMessage(chatId: unknown, messageId: number): EmulatedMessage | undefined {
    if (chatId === undefined) return undefined;
    return this.chats.get(String(normalizeChatId(chatId)))?.messages.find((m) => m.message_id === messageId);
  }

  private chatOf(chatId: number | string): Record<string, unknown> {
    const user = typeof chatId === 'number' ? this.users.get(chatId) : undefined;
    const group = typeof chatId === 'number' ? this.groups.get(chatId) : undefined;
    if (group) return { id: group.id, type: 'supergroup', title: group.title };
    return typeof chatId === 'number' && chatId > 0
      ? { id: chatId, type: 'private', first_name: user?.first_name ?? 'Usuario', ...(user?.username ? { username: user.username } : {}) }
      : { id: chatId, type: 'channel', title: String(chatId) };
  }

  private toTelegram(m: EmulatedMessage, depth = 0): Record<string, unknown> {
    const chatId = m.chat_id;
    const sender = m.sender ? this.users.get(m.sender.id) ?? { ...m.sender, is_bot: false as const } : typeof chatId === 'number' ? this.users.get(chatId) : undefined;
    const chat = this.chatOf(chatId);
    const replied = m.reply_to !== undefined && depth === 0 ? this.findMessage(chatId, m.reply_to) : undefined;
    return {
      message_id: m.message_id,
      from: m.from === 'bot' ? { id: this.bot.id, is_bot: true, first_name: this.bot.first_name, username: this.bot.username } : sender && asTelegramUser(sender),
      ...(replied && !replied.deleted ? { reply_to_message: this.toTelegram(replied, 1) } : {}),
      chat,
      date: m.date,
      ...(m.edit_date ? { edit_date: m.edit_date } : {}),
      ...(m.text !== undefined ? { text: m.parse_mode === 'HTML' ? plainText(parseTelegramHtml(m.text).nodes) : m.text } : {}),
      ...(m.caption !== undefined ? { caption: m.caption } : {}),
      ...(m.document ? { document: m.document } : {}),
      ...(m.dice ? { dice: m.dice } : {}),
      ...(m.invoice ? { invoice: { title: m.invoice.title, description: m.invoice.description, start_parameter: '', currency: m.invoice.currency, total_amount: m.invoice.total_amount } } : {}),
      ...(m.reply_markup && 'inline_keyboard' in m.reply_markup ? { reply_markup: m.reply_markup } : {}),
    };
  }

  private async getUpdates(p: Record<string, any>): Promise<unknown[]> {
    if (this.webhook) {
      throw new BotApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    }
    const offset = Number(p.offset ?? 0);
    if (offset) {
      while (this.queue.length && Number(this.queue[0]!.update_id) < offset) this.queue.shift();
    }
    const limit = Math.min(Math.max(Number(p.limit ?? 100), 1), 100);
    const timeout = Math.min(Math.max(Number(p.timeout ?? 0), 0), 50);
    if (this.queue.length === 0 && timeout > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeout * 1000);
        this.waiters.add(done);
      });
    }
    return this.queue.slice(0, limit);
  }

  // ─── User side ───────────────────────────────────────────────────────────────────────────

  /** What a restart should keep: the chats and who blocked the bot (file bytes are not kept). */
  snapshot(): EmulatorSnapshot {
    return {
      version: 1,
      chats: [...this.chats].map(([key, c]) => [key, { nextId: c.nextId, messages: c.messages.filter((m) => !m.deleted) }]),
      blocked: [...this.users.values()].filter((u) => u.blocked).map((u) => u.id),
      users: [...this.users.values()].map((u) => asTelegramUser(u)),
      groups: [...this.groups.values()],
    };
  }

  restore(snap: EmulatorSnapshot): void {
    if (snap?.version !== 1) return;
    // The users created on the page stay until deleted there (not only those who wrote to the bot).
    for (const u of snap.users ?? []) if (u && Number.isSafeInteger(u.id) && u.first_name) this.users.set(u.id, { ...u, is_bot: false });
    for (const g of snap.groups ?? []) if (g && Number.isSafeInteger(g.id)) this.groups.set(g.id, { id: g.id, title: String(g.title) });
    for (const [key, chat] of snap.chats) this.chats.set(key, { nextId: chat.nextId, messages: chat.messages });
    for (const id of snap.blocked) {
      const u = this.users.get(id);
      if (u) u.blocked = true;
    }
  }

  /**
   * The user blocks (or unblocks) the bot. Telegram tells the bot with a my_chat_member update
   * (status kicked / member), and refuses to deliver the bot's messages meanwhile.
   */
  async setBlocked(userId: number, blocked: boolean): Promise<Delivery | null> {
    const user = this.userOrThrow(userId);
    if (Boolean(user.blocked) === blocked) return null;
    user.blocked = blocked;
    this.emit({ type: 'users' });
    const bot = { id: this.bot.id, is_bot: true, first_name: this.bot.first_name, username: this.bot.username };
    const member = { user: bot, status: 'member' };
    const kicked = { user: bot, status: 'kicked', until_date: 0 };
    const from = asTelegramUser(user);
    const update = {
      update_id: this.nextUpdateId++,
      my_chat_member: {
        chat: { id: user.id, type: 'private', first_name: user.first_name, ...(user.username ? { username: user.username } : {}) },
        from,
        date: Math.floor(Date.now() / 1000),
        old_chat_member: blocked ? member : kicked,
        new_chat_member: blocked ? kicked : member,
      },
    };
    return this.deliver(update, userId);
  }

  commandMenu(): { command: string; description: string }[] {
    return this.commands;
  }

  addUser(user: Omit<EmulatorUser, 'is_bot'>): EmulatorUser {
    const u: EmulatorUser = { is_bot: false, language_code: 'es', ...user };
    this.users.set(u.id, u);
    this.emit({ type: 'users' });
    return u;
  }

  /** Deleted on the page: the user and their private chat are forgotten (the database keeps what it has). */
  removeUser(userId: number): boolean {
    const had = this.users.delete(userId);
    this.chats.delete(String(userId));
    if (had) this.emit({ type: 'users' });
    return had;
  }

  /** The test group (created on first use): all test users are members. */
  ensureGroup(title = 'Grupo de prueba'): EmulatorGroup {
    const existing = [...this.groups.values()][0];
    if (existing) return existing;
    const group = { id: -1_001_000_000_001, title };
    this.groups.set(group.id, group);
    this.emit({ type: 'users' });
    return group;
  }

  messages(chatId: number | string): EmulatedMessage[] {
    return this.chats.get(String(chatId))?.messages ?? [];
  }

  chatIds(): (number | string)[] {
    return [...this.chats.keys()].map((k) => (/^-?\d+$/.test(k) ? Number(k) : k));
  }

  private userOrThrow(userId: number): EmulatorUser {
    const user = this.users.get(userId);
    if (!user) throw new Error(`unknown user ${userId}`);
    return user;
  }

  /**
   * A user types `text` in their private chat with the bot, or in the test group (`chatId`), optionally
   * as a reply to a message of that chat (`replyTo`: the update carries reply_to_message, as in Telegram).
   */
  async sendText(
    userId: number,
    text: string,
    opts: { chatId?: number; replyTo?: number } = {},
  ): Promise<{ update_id: number; message: EmulatedMessage; delivery: Delivery }> {
    const user = this.userOrThrow(userId);
    const chatId = opts.chatId ?? userId;
    if (chatId !== userId && !this.groups.has(chatId)) throw new Error('unknown chat');
    // Writing to a bot you blocked unblocks it first (Telegram's "Restart" button).
    if (user.blocked && chatId === userId) await this.setBlocked(userId, false);
    const from = asTelegramUser(user);
    const chat = this.chat(chatId);
    if (opts.replyTo !== undefined && !chat.messages.some((m) => m.message_id === opts.replyTo && !m.deleted)) throw new Error('no such message to reply to');
    const message: EmulatedMessage = {
      message_id: chat.nextId++,
      chat_id: chatId,
      from: 'user',
      date: Math.floor(Date.now() / 1000),
      text,
      sender: { id: user.id, first_name: user.first_name, ...(user.username ? { username: user.username } : {}) },
      ...(opts.replyTo !== undefined ? { reply_to: opts.replyTo } : {}),
    };
    chat.messages.push(message);
    this.emit({ type: 'message', chat_id: chatId, message });
    const entities = commandEntities(text);
    const tg = this.toTelegram(message);
    const update = {
      update_id: this.nextUpdateId++,
      message: {
        ...tg,
        from,
        chat: chatId === userId
          ? { id: user.id, type: 'private', first_name: user.first_name, ...(user.last_name ? { last_name: user.last_name } : {}), ...(user.username ? { username: user.username } : {}) }
          : this.chatOf(chatId),
        text,
        ...(entities.length ? { entities } : {}),
      },
    };
    return { update_id: update.update_id, message, delivery: await this.deliver(update, chatId) };
  }

  /**
   * A user of the test group puts a reaction on a message (`emoji`) or takes theirs back (null). The bot is
   * the group's administrator here, so Telegram tells it with a `message_reaction` update (Bot API 7.0:
   * the user, the old and the new reaction lists).
   */
  async react(userId: number, chatId: number, messageId: number, emoji: string | null): Promise<{ update_id: number; delivery: Delivery }> {
    const user = this.userOrThrow(userId);
    if (!this.groups.has(chatId)) throw new Error('reactions come from the test group (where the bot is an administrator)');
    const m = this.findMessage(chatId, messageId);
    if (!m || m.deleted) throw new Error('no such message in this chat');
    const reactions = (m.reactions ??= {});
    const old = reactions[String(userId)] ?? null;
    if (old === emoji) throw new Error('that reaction is already there');
    if (emoji) reactions[String(userId)] = emoji;
    else delete reactions[String(userId)];
    this.emit({ type: 'message', chat_id: chatId, message: m });
    const asReaction = (e: string | null) => (e ? [{ type: 'emoji', emoji: e }] : []);
    const update = {
      update_id: this.nextUpdateId++,
      message_reaction: {
        chat: this.chatOf(chatId),
        message_id: messageId,
        user: asTelegramUser(user),
        date: Math.floor(Date.now() / 1000),
        old_reaction: asReaction(old),
        new_reaction: asReaction(emoji),
      },
    };
    return { update_id: update.update_id, delivery: await this.deliver(update, chatId) };
  }

  /** A user presses an inline button (callback_data) under one of the bot's messages. */
  async pressButton(
    userId: number,
    messageId: number,
    data: string,
    chatId: number = userId,
  ): Promise<{ update_id: number; callback_query_id: string; delivery: Delivery }> {
    const user = this.userOrThrow(userId);
    if (chatId !== userId && !this.groups.has(chatId)) throw new Error('unknown chat');
    const m = this.findMessage(chatId, messageId);
    if (!m || m.deleted || m.from !== 'bot') throw new Error('no such bot message in this chat');
    const buttons = ((m.reply_markup as InlineKeyboardMarkup | undefined)?.inline_keyboard ?? []).flat();
    if (!buttons.some((b) => b.callback_data === data)) throw new Error('that message has no button with this callback_data');
    const id = randomBytes(8).readBigUInt64BE().toString();
    const timer = setTimeout(() => {
      this.pendingCallbacks.delete(id);
      this.emit({ type: 'callback', chat_id: chatId, callback_query_id: id, message_id: messageId, answered: false });
    }, 15_000);
    timer.unref();
    this.pendingCallbacks.set(id, { chat_id: chatId, message_id: messageId, timer });
    const update = {
      update_id: this.nextUpdateId++,
      callback_query: { id, from: asTelegramUser(user), message: this.toTelegram(m), chat_instance: String(-Math.abs(chatId)), data },
    };
    return { update_id: update.update_id, callback_query_id: id, delivery: await this.deliver(update, chatId) };
  }

  /**
   * The user pays an invoice (an invoice message, or a https://t.me/$… link from createInvoiceLink), as
   * Telegram does: a pre_checkout_query first; only if the bot answers ok within 10 s, a message with
   * successful_payment (a new charge id; for a subscription, its expiration date and is_recurring /
   * is_first_recurring). A refusal shows the bot's error_message.
   */
  async payInvoice(userId: number, source: { messageId: number } | { link: string }): Promise<{ ok: boolean; error?: string; charge_id?: string }> {
    const user = this.userOrThrow(userId);
    let invoice: InvoiceInfo | undefined;
    let message: EmulatedMessage | undefined;
    if ('messageId' in source) {
      message = this.findMessage(userId, source.messageId);
      invoice = message?.invoice;
    } else {
      invoice = this.invoiceLinks.get(/\/\$([\w-]+)$/.exec(source.link)?.[1] ?? '');
    }
    if (!invoice) throw new Error('no such invoice');
    if (invoice.paid_charge_id && message) return { ok: false, error: 'Esta factura ya está pagada.' };
    const from = asTelegramUser(user);
    const queryId = randomBytes(8).readBigUInt64BE().toString();
    const answer = new Promise<{ ok: boolean; error_message?: string }>((resolve) => {
      const timer = setTimeout(() => {
        this.pendingCheckouts.delete(queryId);
        resolve({ ok: false, error_message: 'El bot no respondió a tiempo (10 s): el pago se canceló.' });
      }, 10_000);
      timer.unref();
      this.pendingCheckouts.set(queryId, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
    await this.deliver(
      {
        update_id: this.nextUpdateId++,
        pre_checkout_query: { id: queryId, from, currency: invoice.currency, total_amount: invoice.total_amount, invoice_payload: invoice.payload },
      },
      userId,
    );
    const a = await answer;
    if (!a.ok) {
      this.emit({ type: 'toast', chat_id: userId, text: a.error_message ?? 'Pago rechazado', show_alert: true });
      return { ok: false, error: a.error_message };
    }
    const charge = `devstx_${randomBytes(10).toString('hex')}`;
    if (message) invoice.paid_charge_id = charge;
    const date = Math.floor(Date.now() / 1000);
    const subscription = invoice.subscription_period
      ? { subscription_expiration_date: date + invoice.subscription_period, is_recurring: true, is_first_recurring: true }
      : {};
    const chat = this.chat(userId);
    const paid: EmulatedMessage = {
      message_id: chat.nextId++,
      chat_id: userId,
      from: 'user',
      date,
      media: { kind: 'pago', summary: `Pagaste ${invoice.total_amount} ⭐ · ${invoice.title}` },
    };
    chat.messages.push(paid);
    this.emit({ type: 'message', chat_id: userId, message: paid });
    if (message) this.emit({ type: 'message', chat_id: userId, message });
    await this.deliver(
      {
        update_id: this.nextUpdateId++,
        message: {
          message_id: paid.message_id,
          from,
          chat: { id: user.id, type: 'private', first_name: user.first_name, ...(user.username ? { username: user.username } : {}) },
          date,
          successful_payment: {
            currency: invoice.currency,
            total_amount: invoice.total_amount,
            invoice_payload: invoice.payload,
            telegram_payment_charge_id: charge,
            provider_payment_charge_id: '',
            ...subscription,
          },
        },
      },
      userId,
    );
    return { ok: true, charge_id: charge };
  }

  /** Queues or POSTs an update, as Telegram would. */
  async deliver(update: Record<string, unknown>, chatId: number | null): Promise<Delivery> {
    const hook = this.webhook;
    if (!hook) {
      this.queue.push(update);
      for (const w of [...this.waiters]) w();
      return { via: 'getUpdates', status: 0, body: '' };
    }
    const retries = this.options.webhookRetries ?? 3;
    const delay = this.options.retryDelayMs ?? 1000;
    const attempt = async (n: number): Promise<Delivery> => {
      let status = 0;
      let body = '';
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(hook.secret_token ? { 'x-telegram-bot-api-secret-token': hook.secret_token } : {}) },
          body: JSON.stringify(update),
        });
        status = res.status;
        body = await res.text();
        if (status >= 200 && status < 300 && String(res.headers.get('content-type')).includes('application/json')) await this.runWebhookReply(body);
        body = body.slice(0, 500);
      } catch (err) {
        body = String((err as Error).message);
      }
      this.emit({ type: 'delivery', chat_id: chatId, update_id: Number(update.update_id), status, body });
      if ((status === 0 || status >= 500 || status === 429) && n < retries) {
        // Like Telegram: the same update again, later, in the background.
        setTimeout(() => void attempt(n + 1), delay * 2 ** n).unref();
      }
      return { via: 'webhook', status, body };
    };
    return attempt(0);
  }

  /**
   * A webhook reply: like Telegram, the method call in a 2xx answer's JSON body is run; its failure
   * (e.g. a callback query answered twice) reaches nobody.
   */
  private async runWebhookReply(body: string): Promise<void> {
    let call: Record<string, unknown>;
    try {
      call = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof call?.method !== 'string') return;
    const { method, ...payload } = call as { method: string } & Record<string, any>;
    try {
      await this.call(method, payload);
      this.calls.push({ method, payload, ok: true, at: Date.now() });
    } catch {
      this.calls.push({ method, payload, ok: false, at: Date.now() });
    }
  }

  private emit(event: EmulatorEvent) {
    this.events.emit('event', event);
  }
}

export interface EmulatorSnapshot {
  version: 1;
  chats: [string, { nextId: number; messages: EmulatedMessage[] }][];
  blocked: number[];
  /** Every test user (absent in files written before users were kept). */
  users?: Omit<EmulatorUser, 'blocked'>[];
  groups?: EmulatorGroup[];
}

export interface Delivery {
  via: 'webhook' | 'getUpdates';
  status: number;
  body: string;
}

/** A dev bot token in BotFather's format, for runs without a real one. */
export function devToken(botId = 7_000_000_001): string {
  return `${botId}:dev-${randomBytes(18).toString('base64url')}`;
}

function asTelegramUser(u: EmulatorUser | (Omit<EmulatorUser, 'blocked'> & { blocked?: boolean })): Omit<EmulatorUser, 'blocked'> {
  const { blocked: _blocked, ...rest } = u;
  return rest;
}

function normalizeChatId(v: unknown): number | string {
  const s = String(v);
  return /^-?\d+$/.test(s) ? Number(s) : s;
}

function sameMarkup(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function validateMarkup(markup: unknown) {
  if (markup === undefined || markup === null) return;
  if (typeof markup !== 'object') throw badRequest("can't parse reply keyboard markup JSON object");
  const rows = (markup as InlineKeyboardMarkup).inline_keyboard;
  if (!rows) return;
  if (!Array.isArray(rows)) throw badRequest('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays');
  for (const row of rows) {
    if (!Array.isArray(row)) throw badRequest('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays');
    for (const b of row) {
      if (!b || typeof b.text !== 'string' || b.text === '') throw badRequest('text buttons are unallowed in the inline keyboard');
      if (b.callback_data !== undefined && (Buffer.byteLength(String(b.callback_data)) < 1 || Buffer.byteLength(String(b.callback_data)) > 64)) {
        throw badRequest('BUTTON_DATA_INVALID');
      }
    }
  }
}

/** Stars invoices as Telegram checks them: XTR, no provider token, exactly one price, field lengths. */
function checkInvoice(p: Record<string, any>): InvoiceInfo {
  const title = String(p.title ?? '');
  const description = String(p.description ?? '');
  const payload = String(p.payload ?? '');
  if (title.length < 1 || title.length > 32) throw badRequest('INVOICE_TITLE_INVALID');
  if (description.length < 1 || description.length > 255) throw badRequest('INVOICE_DESCRIPTION_INVALID');
  if (Buffer.byteLength(payload) < 1 || Buffer.byteLength(payload) > 128) throw badRequest('INVOICE_PAYLOAD_INVALID');
  if (p.currency !== 'XTR') throw badRequest('CURRENCY_INVALID');
  if (p.provider_token) throw badRequest('PROVIDER_TOKEN_INVALID: Stars invoices take no provider token');
  const prices = p.prices as { label: string; amount: number }[] | undefined;
  if (!Array.isArray(prices) || prices.length !== 1 || !(prices[0]!.amount >= 1)) throw badRequest('STARS_INVOICE_INVALID: exactly one price is needed');
  return { title, description, currency: 'XTR', total_amount: Number(prices[0]!.amount), payload };
}

function commandEntities(text: string) {
  const entities: { offset: number; length: number; type: 'bot_command' }[] = [];
  const re = /(^|\s)(\/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) entities.push({ offset: m.index + m[1]!.length, length: m[2]!.length, type: 'bot_command' });
  return entities;
}

function summarize(p: Record<string, any>): string {
  const parts = Object.entries(p)
    .filter(([k]) => k !== 'chat_id' && k !== 'reply_markup')
    .map(([k, v]) => `${k}: ${isUpload(v) ? `<${v.name ?? 'file'}, ${v.bytes.length} bytes>` : typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.join('\n').slice(0, 1000);
}

interface Upload {
  upload: true;
  name?: string;
  type?: string;
  bytes: Buffer;
}
function isUpload(v: unknown): v is Upload {
  return typeof v === 'object' && v !== null && (v as Upload).upload === true;
}

function stripBytes(p: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(p)) out[k] = isUpload(v) ? { file: v.name, size: v.bytes.length, type: v.type } : v;
  return out;
}

/** A Bot API call's parameters from the query string and a JSON, form or multipart body. */
async function readPayload(req: http.IncomingMessage): Promise<Record<string, any>> {
  const payload: Record<string, any> = Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams);
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (body.length && type.includes('application/json')) {
    try {
      Object.assign(payload, JSON.parse(body.toString()));
    } catch {
      throw badRequest("can't parse JSON object");
    }
  } else if (body.length && type.includes('multipart/form-data')) {
    // undici's multipart parser (the fetch Request/FormData of Node itself), so no extra dependency.
    const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.headers['content-type']! }, body }).formData();
    for (const [key, value] of form.entries()) {
      if (typeof value === 'string') payload[key] = value;
      else payload[key] = { upload: true, name: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) } satisfies Upload;
    }
    // telegraf attaches files as attach://<name> references inside the main field sometimes.
    for (const [key, value] of Object.entries(payload)) {
      if (typeof value === 'string' && value.startsWith('attach://') && isUpload(payload[value.slice(9)])) payload[key] = payload[value.slice(9)];
    }
  } else if (body.length && type.includes('application/x-www-form-urlencoded')) {
    Object.assign(payload, Object.fromEntries(new URLSearchParams(body.toString())));
  }
  for (const key of JSON_FIELDS) {
    if (typeof payload[key] === 'string') {
      try {
        payload[key] = JSON.parse(payload[key]);
      } catch {
        throw badRequest(`can't parse ${key} JSON object`);
      }
    }
  }
  for (const key of ['show_alert', 'drop_pending_updates', 'disable_notification', 'protect_content']) {
    if (payload[key] === 'true') payload[key] = true;
    else if (payload[key] === 'false') payload[key] = false;
  }
  return payload;
}

/** Like Telegram: a document's MIME type follows its file name when the upload does not give a specific one. */
const MIME_BY_EXTENSION: Record<string, string> = {
  json: 'application/json',
  txt: 'text/plain',
  csv: 'text/csv',
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  zip: 'application/zip',
};
function mimeOf(name: string | undefined, type: string | undefined): string | undefined {
  const generic = !type || /^(application\/octet-stream|text\/plain)\b/i.test(type);
  const ext = name?.split('.').pop()?.toLowerCase();
  return generic && ext && MIME_BY_EXTENSION[ext] ? MIME_BY_EXTENSION[ext] : type || undefined;
}
