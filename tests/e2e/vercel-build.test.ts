import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../lib/db/client.js';
import { buildFunctions, type BuiltFunction } from '../../scripts/build.js';
import { BotApiStub } from '../support/bot-api-stub.js';
import { buildLauncher, startBuiltFunction, type RunningFunction } from '../support/built-function.js';
import { uniqueTelegramId } from '../support/db.js';
import { QStashServer } from '../support/qstash-server.js';
import { skipped } from '../support/skips.js';
import { callbackUpdate, textUpdate } from '../support/updates.js';
import { startUpstashShim, type UpstashShim } from '../support/upstash-shim.js';

/**
 * The deployment as Vercel gets it: `npm run build`'s code writes the Build Output API tree into a
 * folder outside the repository (so no node_modules/ can be found by walking up), and each function
 * runs from its own `.func` folder in a fresh process, the way Vercel's launcher loads it: the
 * handler named by `.vc-config.json`, the @vercel/node helpers, Vercel's environment. Real Update
 * JSON reaches the webhook bundle; it must register the user, answer through the Bot API stub and
 * show the shop (the content store's lazy chunk); the admin bundle must draw a PNG with the
 * WebAssembly renderer and fonts the build copied in. A bundle that lost a file, a chunk or a
 * dependency fails here, not in production.
 */
const redisUrl = process.env.REDIS_URL;
const databaseUrl = (globalThis as { __dianabotTestDatabaseUrl?: string }).__dianabotTestDatabaseUrl!;

describe.skipIf(skipped('built Vercel functions (e2e/vercel-build)', !redisUrl, 'REDIS_URL is not set (the functions run on the Upstash REST client, served by a shim over a real Redis)'))(
  'npm run build: the Vercel functions, loaded from their own folders',
  () => {
    let out: string;
    let built: BuiltFunction[];
    let launcher: string;
    let telegram: BotApiStub;
    let qstash: QStashServer;
    let upstash: UpstashShim;
    const running: RunningFunction[] = [];
    const secret = 'built-function-secret';
    const cronSecret = 'built-function-cron-secret-0123456789';
    const adminToken = 'built-function-admin-token-0123456789';
    let env: Record<string, string>;

    beforeAll(async () => {
      out = await mkdtemp(path.join(tmpdir(), 'dianabot-build-'));
      const [result, l] = await Promise.all([buildFunctions(path.join(out, 'output')), buildLauncher(out)]);
      built = result.functions;
      launcher = l;
      telegram = await new BotApiStub().start();
      qstash = await new QStashServer({ deliver: false }).start();
      upstash = await startUpstashShim(redisUrl!);
      // What a Vercel deployment has: VERCEL=1 (production mode), the Upstash pair, QStash; no REDIS_URL.
      env = {
        VERCEL: '1',
        NODE_ENV: 'production',
        DATABASE_URL: databaseUrl,
        UPSTASH_REDIS_REST_URL: upstash.url,
        UPSTASH_REDIS_REST_TOKEN: upstash.token,
        TELEGRAM_BOT_TOKEN: '123456:BUILT-function-token-for-the-stub',
        TELEGRAM_WEBHOOK_SECRET: secret,
        TELEGRAM_API_ROOT: telegram.url,
        PSEUDONYM_SECRET: 'built-function-pseudonym-secret-0123456789',
        BOT_USERNAME: 'DianaTestBot',
        CRON_SECRET: cronSecret,
        ADMIN_API_TOKEN: adminToken,
        LOG_LEVEL: 'warn',
        ...qstash.env('http://127.0.0.1:9/built'),
      };
    }, 120_000);

    afterAll(async () => {
      await Promise.all(running.map((r) => r.stop()));
      await telegram?.stop();
      await qstash?.stop();
      await upstash?.stop();
      if (out) await rm(out, { recursive: true, force: true });
    });

    const fn = (source: string) => {
      const f = built.find((b) => b.source === source);
      if (!f) throw new Error(`no function built from ${source}`);
      return f;
    };

    it('writes one self-contained function per api/ file, with its config and no static files', async () => {
      expect(built.map((b) => b.source)).toEqual(expect.arrayContaining(['api/telegram.ts', 'api/cron/relay.ts', 'api/cron/jobs.ts', 'api/events/commands.ts', 'api/admin/economy.ts']));
      expect(built.some((b) => b.source.includes('_lib'))).toBe(false);
      for (const f of built) {
        const vc = JSON.parse(await readFile(path.join(f.dir, '.vc-config.json'), 'utf8'));
        expect(vc).toMatchObject({ handler: f.handler, launcherType: 'Nodejs', shouldAddHelpers: true });
        expect(vc.maxDuration).toBeGreaterThanOrEqual(30);
        expect(vc.runtime).toMatch(/^nodejs\d+\.x$/);
        await access(path.join(f.dir, f.handler));
        // Bundled: node_modules/ holds only the files read at run time (the chart renderer's), nothing to trace.
        if (!['api/telegram.ts', 'api/admin/economy.ts'].includes(f.source)) expect(await readdir(f.dir)).not.toContain('node_modules');
      }
      expect(await readdir(path.join(out, 'output'))).toEqual(expect.arrayContaining(['config.json', 'functions']));
      expect(await readdir(path.join(out, 'output'))).not.toContain('static');
      expect(JSON.parse(await readFile(path.join(out, 'output/config.json'), 'utf8'))).toMatchObject({ version: 3 });
    });

    it('the webhook bundle refuses a wrong secret, registers a new user on /start and answers in Spanish, and shows the shop from the active content version', async () => {
      const webhook = await startBuiltFunction(launcher, fn('api/telegram.ts').dir, env);
      running.push(webhook);
      const post = (update: unknown, token = secret) =>
        fetch(`${webhook.url}/api/telegram`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': token },
          body: JSON.stringify(update),
        });
      const id = uniqueTelegramId();

      const forged = await post(textUpdate(id, '/start'), 'not-the-secret');
      expect(forged.status).toBe(401);

      const start = textUpdate(id, '/start', { firstName: 'Vera' });
      const res = await post(start);
      expect(res.status, webhook.stderr()).toBe(200);
      expect(telegram.sentTexts(id).join('\n')).toContain('¡Hola, <b>Vera</b>!');
      const db = createDb(databaseUrl, { max: 1 });
      try {
        const [user] = await db<{ first_name: string }[]>`SELECT first_name FROM users WHERE telegram_id = ${id}`;
        expect(user?.first_name).toBe('Vera');
      } finally {
        await db.end();
      }
      // A redelivery of the same update changes nothing (the inbox works through the bundle too).
      expect((await post(start)).status).toBe(200);
      expect(telegram.sentTexts(id)).toHaveLength(1);

      // The shop's items come from the active content version (Postgres), through the lazily loaded content store chunk.
      const shop = await post(callbackUpdate(id, 'tc:cosmetic'));
      expect(shop.status, webhook.stderr()).toBe(200);
      const edit = telegram.callsOf('editMessageText').find((c) => Number(c.payload.chat_id) === id);
      expect(String(edit?.payload.text)).toContain('Marco dorado');
    });

    it('the admin bundle draws the economy chart with the WebAssembly renderer and fonts the build copied in', async () => {
      const economy = await startBuiltFunction(launcher, fn('api/admin/economy.ts').dir, env);
      running.push(economy);
      expect((await fetch(`${economy.url}/api/admin/economy?format=png`)).status).toBe(401);
      const res = await fetch(`${economy.url}/api/admin/economy?format=png&days=7`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(res.status, economy.stderr()).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
      const png = Buffer.from(await res.arrayBuffer());
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    });

    it('the cron bundle checks CRON_SECRET and sweeps the outbox', async () => {
      const relay = await startBuiltFunction(launcher, fn('api/cron/relay.ts').dir, env);
      running.push(relay);
      expect((await fetch(`${relay.url}/api/cron/relay`)).status).toBe(401);
      const res = await fetch(`${relay.url}/api/cron/relay`, { headers: { authorization: `Bearer ${cronSecret}` } });
      expect(res.status, relay.stderr()).toBe(200);
      expect(await res.json()).toEqual(expect.any(Object));
    });
  },
);

describe('npm run build with the deployment variables', () => {
  it('refuses a BOT_TIMEZONE the runtime does not know, before building (the functions check its shape only)', async () => {
    const { execFile } = await import('node:child_process');
    const out = await mkdtemp(path.join(tmpdir(), 'dianabot-build-zone-'));
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out', path.join(out, 'output')], { env: { ...process.env, BOT_TIMEZONE: 'Mars/Olympus' } }, (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/BOT_TIMEZONE "Mars\/Olympus" is not a time zone/);
    expect(await readdir(out)).toEqual([]);
    await rm(out, { recursive: true, force: true });
  });
});
