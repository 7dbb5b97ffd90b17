import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { App } from '../lib/app.js';
import { getBalance, getTransactionHistory } from '../lib/besitos/ledger.js';
import { SOURCE_LABELS } from '../lib/bot/messages.js';
import { formatStamp } from '../lib/time/format.js';
import { shortName } from '../lib/bot/reply.js';
import { displayName, findUsersByIds } from '../lib/users/lookup.js';
import type { EmulatorEvent, EmulatorSnapshot, TelegramEmulator } from './telegram-emulator.js';
import { readRequestBody } from './vercel-adapter.js';

/**
 * The chat page's own endpoints (dev mode only, loopback only):
 *   GET  /                              the page (dev/public)
 *   GET  /dev/state                     bot, command menu, users, groups, the bot's time zone
 *   POST /dev/users {first_name, username?}   a new test user (@usernames unique, checked in Spanish)
 *   DELETE /dev/users/:id               the user leaves the page (their chat too; the database keeps its data)
 *   POST /dev/groups                    the test group (all test users are members)
 *   GET  /dev/chats/:id/messages        the chat so far (a user's private chat, or the group)
 *   POST /dev/chats/:id/messages {text, from?, reply_to?}   a user types (in the group: `from`), maybe replying
 *   POST /dev/chats/:id/callback {message_id, data, from?}  a user presses an inline button
 *   POST /dev/chats/:id/reaction {message_id, from, emoji|null}  in the group: a reaction put on or taken back (message_reaction)
 *   POST /dev/chats/:id/pay {message_id} | {link}      the user pays a Stars invoice (pre-checkout, then the payment)
 *   POST /dev/users/:id/block {blocked}        the user blocks / unblocks the bot (my_chat_member)
 *   GET  /dev/users/:id/ledger          balance and ledger, read from the database
 *   GET  /dev/files/:file_id            a document the bot sent
 *   GET  /dev/events                    server-sent events: messages, edits, toasts, "typing…", ledger changes
 *   GET  /format.js                     lib/time/format.ts for the browser: the page shows times as the bot does
 */
const STATIC: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/telegram-html.js': ['telegram-html.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface DevUser {
  id: number;
  first_name: string;
  username?: string;
  blocked?: boolean;
}

export function createDevApi(deps: { app: App; emulator: TelegramEmulator; publicDir: string; stateFile?: string }) {
  const { app, emulator, publicDir, stateFile } = deps;
  const streams = new Set<http.ServerResponse>();
  let saveTimer: NodeJS.Timeout | undefined;
  let saving: Promise<void> = Promise.resolve();
  // The chats live in the emulator's memory; a copy under the data directory brings them back after
  // a restart, next to the database that remembers the users and their besitos.
  const save = () => {
    if (!stateFile) return saving;
    clearTimeout(saveTimer);
    saveTimer = undefined;
    const snapshot = JSON.stringify(emulator.snapshot());
    saving = saving.then(async () => {
      await mkdir(path.dirname(stateFile), { recursive: true });
      await writeFile(`${stateFile}.tmp`, snapshot);
      await rename(`${stateFile}.tmp`, stateFile);
    }).catch((err) => app.log.warn({ msg: 'could not save the dev chats', error: String(err) }));
    return saving;
  };
  const onEvent = (event: EmulatorEvent) => {
    const data = `data: ${JSON.stringify(event)}\n\n`;
    for (const res of streams) res.write(data);
    if (stateFile && (event.type === 'message' || event.type === 'users')) {
      saveTimer ??= setTimeout(() => void save(), 300);
    }
  };
  emulator.events.on('event', onEvent);
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': ping\n\n');
  }, 15_000);
  heartbeat.unref();

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  async function bodyOf(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    // application/json only: a cross-site form or fetch cannot send it without a CORS preflight,
    // which this server never grants, so other web pages cannot drive the test users.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'send application/json');
    const raw = await readRequestBody(req, 64 * 1024);
    try {
      const v = raw.length ? JSON.parse(raw.toString()) : {};
      if (typeof v !== 'object' || v === null) throw new Error();
      return v;
    } catch {
      throw new HttpError(400, 'invalid JSON body');
    }
  }

  function userId(raw: unknown): number {
    const id = Number(raw);
    if (!Number.isSafeInteger(id) || !emulator.users.has(id)) throw new HttpError(404, 'Ese usuario de prueba no existe.');
    return id;
  }

  /** A chat of the page: a user's private chat or the test group. */
  function chatId(raw: string): number {
    const id = Number(raw);
    if (Number.isSafeInteger(id) && (emulator.users.has(id) || emulator.groups.has(id))) return id;
    throw new HttpError(404, 'Ese chat no existe.');
  }

  /** Who acts in a chat: the owner of a private chat, or `from` in the group. */
  function actor(chat: number, from: unknown): number {
    if (emulator.users.has(chat)) return chat;
    return userId(from);
  }

  // Ledger changes of any user (an undo by the other party, a scheduled job, an admin): the page's
  // panel refreshes on them. Polled only while a page is connected.
  let lastTxId: number | null = null;
  const startTx = app.db<{ id: string }[]>`SELECT coalesce(max(id), 0) AS id FROM transactions`
    .then(([r]) => (lastTxId ??= Number(r?.id ?? 0)))
    .catch(() => (lastTxId ??= 0));
  let polling = false;
  const pollLedger = async () => {
    if (polling || streams.size === 0) return;
    polling = true;
    try {
      await startTx;
      const rows = await app.db<{ id: string; telegram_id: string | null }[]>`
        SELECT t.id, u.telegram_id FROM transactions t JOIN users u ON u.id = t.user_id
         WHERE t.id > ${lastTxId ?? 0} ORDER BY t.id DESC LIMIT 500`;
      if (rows.length === 0) return;
      lastTxId = Math.max(lastTxId ?? 0, ...rows.map((r) => Number(r.id)));
      for (const tg of new Set(rows.map((r) => r.telegram_id).filter((x): x is string => x !== null))) {
        const data = `data: ${JSON.stringify({ type: 'ledger', chat_id: Number(tg) })}\n\n`;
        for (const res of streams) res.write(data);
      }
    } catch (err) {
      app.log.debug({ msg: 'dev ledger poll failed', error: String(err) });
    } finally {
      polling = false;
    }
  };
  const ledgerTimer = setInterval(() => void pollLedger(), 500);
  ledgerTimer.unref();
  let formatModule: Promise<string> | undefined;

  function groups() {
    return [...emulator.groups.values()];
  }

  function users(): DevUser[] {
    return [...emulator.users.values()].map((u) => ({
      id: u.id,
      first_name: u.first_name,
      ...(u.username ? { username: u.username } : {}),
      ...(u.blocked ? { blocked: true } : {}),
    }));
  }

  async function ledger(telegramId: number) {
    const [user] = await app.db<{ id: number; status: string; created_at: Date }[]>`
      SELECT id, status, created_at FROM users WHERE telegram_id = ${telegramId}`;
    if (!user) return { registered: false, besitos: 0, lifetime: 0, entries: [] };
    const balance = await getBalance(app.db, user.id).catch(() => ({ besitos: 0, lifetimeBesitos: 0 }));
    const page = await getTransactionHistory(app.db, user.id, { limit: 100 });
    const others = await findUsersByIds(app.db, page.entries.map((e) => e.counterpartyId).filter((x): x is number => x !== null));
    // As /historial says it: a gift names the other person.
    const labelOf = (e: (typeof page.entries)[number]) => {
      const base = SOURCE_LABELS[e.source] ?? e.source;
      if (e.source !== 'gift') return base;
      const incoming = e.type === 'reversal' ? e.amount < 0 : e.amount > 0;
      const who = e.counterpartyId === null ? null : displayName(others.get(e.counterpartyId));
      return `${base} ${incoming ? 'de' : 'a'} ${who ? shortName(who, 24) : 'una cuenta eliminada'}`;
    };
    return {
      registered: true,
      userId: user.id,
      status: user.status,
      besitos: balance.besitos,
      lifetime: balance.lifetimeBesitos,
      entries: page.entries.map((e) => ({
        when: formatStamp(e.createdAt, app.config.timeZone, app.clock()),
        id: e.id,
        amount: e.amount,
        type: e.type,
        source: e.source,
        label: labelOf(e),
        description: e.description,
        balanceAfter: e.balanceAfter,
        createdAt: e.createdAt.toISOString(),
      })),
      more: page.nextCursor !== null,
    };
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> {
    const method = req.method ?? 'GET';
    // Only for this machine: a page on another site that rebinds its DNS name to 127.0.0.1 still
    // sends its own Host header, and gets nothing.
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (!['localhost', '127.0.0.1', '[::1]'].includes(host)) throw new HttpError(403, 'the dev pages answer only on localhost');
    let m: RegExpExecArray | null;
    if (method === 'GET' && pathname in STATIC) {
      const [file, type] = STATIC[pathname]!;
      const body = await readFile(path.join(publicDir, file)).catch(() => null);
      if (!body) throw new HttpError(404, 'not found');
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
      res.end(body);
      return;
    }
    if (method === 'GET' && pathname === '/format.js') {
      // The bot's own formatter (lib/time/format.ts has no imports), as a browser module.
      formatModule ??= (async () => {
        const ts = (await import('typescript')).default;
        const source = await readFile(path.join(path.dirname(publicDir), '..', 'lib', 'time', 'format.ts'), 'utf8');
        return ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
      })();
      const body = await formatModule.catch((err) => {
        formatModule = undefined;
        throw err;
      });
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(body);
      return;
    }
    if (method === 'GET' && pathname === '/dev/state') {
      return json(res, 200, { bot: emulator.bot, commands: emulator.commandMenu(), users: users(), groups: groups(), timeZone: app.config.timeZone });
    }
    if (method === 'POST' && pathname === '/dev/groups') {
      return json(res, 201, emulator.ensureGroup());
    }
    if (method === 'DELETE' && (m = /^\/dev\/users\/(\d+)$/.exec(pathname))) {
      const id = userId(m[1]!);
      emulator.removeUser(id);
      void save();
      return json(res, 200, { deleted: id });
    }
    if (method === 'POST' && pathname === '/dev/users') {
      const body = await bodyOf(req);
      const firstName = String(body.first_name ?? '').trim().slice(0, 64);
      if (!firstName) throw new HttpError(400, 'Escribe un nombre.');
      const username = String(body.username ?? '').trim().replace(/^@/, '');
      if (username && !/^[A-Za-z][A-Za-z0-9_]{4,31}$/.test(username)) {
        throw new HttpError(400, 'El @usuario debe tener de 5 a 32 caracteres: letras, números o _, y empezar por una letra.');
      }
      // Telegram usernames are unique (case-insensitively): two test users can't share one.
      const taken = username && [...emulator.users.values()].find((u) => u.username?.toLowerCase() === username.toLowerCase());
      if (taken) throw new HttpError(409, `@${username} ya es de ${taken.first_name}. Elige otro @usuario.`);
      let id: number;
      do id = 100_000_000 + Math.floor(Math.random() * 900_000_000);
      while (emulator.users.has(id));
      const user = emulator.addUser({ id, first_name: firstName, ...(username ? { username } : {}) });
      return json(res, 201, user);
    }
    if (method === 'GET' && pathname === '/dev/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write('retry: 1000\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if ((m = /^\/dev\/chats\/(-?\d+)\/messages$/.exec(pathname))) {
      const id = chatId(m[1]!);
      if (method === 'GET') return json(res, 200, emulator.messages(id));
      if (method === 'POST') {
        const body = await bodyOf(req);
        const text = String(body.text ?? '');
        if (!text.trim()) throw new HttpError(400, 'Escribe algo.');
        if (text.length > 4096) throw new HttpError(400, 'El texto pasa de 4096 caracteres.');
        const replyTo = body.reply_to === undefined || body.reply_to === null ? undefined : Number(body.reply_to);
        try {
          const r = await emulator.sendText(actor(id, body.from), text, { chatId: id, replyTo });
          return json(res, 200, { update_id: r.update_id, message_id: r.message.message_id, delivery: r.delivery });
        } catch (err) {
          if (err instanceof HttpError) throw err;
          throw new HttpError(400, (err as Error).message);
        }
      }
    }
    if (method === 'POST' && (m = /^\/dev\/chats\/(-?\d+)\/callback$/.exec(pathname))) {
      const id = chatId(m[1]!);
      const body = await bodyOf(req);
      const who = actor(id, body.from);
      try {
        const r = await emulator.pressButton(who, Number(body.message_id), String(body.data ?? ''), id);
        return json(res, 200, r);
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
    }
    if (method === 'POST' && (m = /^\/dev\/chats\/(-?\d+)\/reaction$/.exec(pathname))) {
      const id = chatId(m[1]!);
      const body = await bodyOf(req);
      const who = actor(id, body.from);
      const emoji = body.emoji === null || body.emoji === undefined ? null : String(body.emoji).slice(0, 8);
      try {
        return json(res, 200, await emulator.react(who, id, Number(body.message_id), emoji));
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
    }
    if (method === 'POST' && (m = /^\/dev\/chats\/(-?\d+)\/pay$/.exec(pathname))) {
      const id = userId(m[1]!);
      const body = await bodyOf(req);
      try {
        const source = body.link ? { link: String(body.link) } : { messageId: Number(body.message_id) };
        return json(res, 200, await emulator.payInvoice(id, source));
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
    }
    if (method === 'POST' && (m = /^\/dev\/users\/(\d+)\/block$/.exec(pathname))) {
      const id = userId(m[1]!);
      const body = await bodyOf(req);
      if (typeof body.blocked !== 'boolean') throw new HttpError(400, 'blocked must be true or false');
      const delivery = await emulator.setBlocked(id, body.blocked);
      return json(res, 200, { blocked: body.blocked, delivery });
    }
    if (method === 'GET' && (m = /^\/dev\/users\/(\d+)\/ledger$/.exec(pathname))) {
      return json(res, 200, await ledger(Number(m[1])));
    }
    if (method === 'GET' && (m = /^\/dev\/files\/([\w-]+)$/.exec(pathname))) {
      const file = emulator.file(m[1]!);
      if (!file?.bytes) throw new HttpError(404, 'no such file');
      res.writeHead(200, {
        'content-type': file.mime_type ?? 'application/octet-stream',
        'content-disposition': `attachment; filename="${(file.file_name ?? 'file').replace(/["\\\r\n]/g, '_')}"`,
      });
      res.end(file.bytes);
      return;
    }
    throw new HttpError(404, 'not found');
  }

  return {
    /** After a restart: the users from the database (everyone who wrote), their chats from the state file. */
    async loadKnownUsers(): Promise<void> {
      // The page's own list (kept in the state file) is the truth: a user deleted on the page stays
      // deleted. Only an older file without that list (or none) is completed from the database.
      let snapshot: EmulatorSnapshot | null = null;
      if (stateFile) {
        const text = await readFile(stateFile, 'utf8').catch(() => null);
        if (text) {
          try {
            snapshot = JSON.parse(text) as EmulatorSnapshot;
          } catch (err) {
            app.log.warn({ msg: 'ignoring an unreadable dev chats file', file: stateFile, error: String(err) });
          }
        }
      }
      if (snapshot?.users) return void emulator.restore(snapshot);
      const rows = await app.db<{ telegram_id: number; first_name: string | null; username: string | null }[]>`
        SELECT telegram_id, first_name, username FROM users
         WHERE telegram_id IS NOT NULL AND deleted_at IS NULL
         ORDER BY created_at LIMIT 500`;
      for (const r of rows) {
        emulator.users.set(Number(r.telegram_id), {
          id: Number(r.telegram_id),
          is_bot: false,
          first_name: r.first_name ?? `Usuario ${r.telegram_id}`,
          language_code: 'es',
          ...(r.username ? { username: r.username } : {}),
        });
      }
      if (snapshot) emulator.restore(snapshot);
    },
    handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): boolean {
      if (!(pathname in STATIC) && pathname !== '/format.js' && !pathname.startsWith('/dev/')) return false;
      route(req, res, pathname).catch((err) => {
        if (res.headersSent) return void res.end();
        if (err instanceof HttpError) json(res, err.status, { error: err.message });
        else {
          app.log.error({ msg: 'dev api failed', path: pathname, error: String((err as Error)?.stack ?? err) });
          json(res, 500, { error: String((err as Error)?.message ?? err) });
        }
      });
      return true;
    },
    async close(): Promise<void> {
      emulator.events.off('event', onEvent);
      clearInterval(heartbeat);
      clearInterval(ledgerTimer);
      if (saveTimer) await save();
      await saving;
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}
