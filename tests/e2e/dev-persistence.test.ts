import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * `npm run dev` as a user runs it (a child process, tsx, embedded PostgreSQL — never DATABASE_URL
 * here): what one run writes under the data directory is there after a restart.
 */
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-dev-data-'));
// mkdtemp makes it 0700; as root, PostgreSQL runs as its own system user, which must reach the directory.
await chmod(dataDir, 0o755);
const children = new Set<ChildProcess>();

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

interface Dev {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

function devEnv(extra: Record<string, string> = {}) {
  // Embedded defaults: blank out anything of the CI environment that would replace them.
  return { ...process.env, DATABASE_URL: '', REDIS_URL: '', UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '', TELEGRAM_BOT_TOKEN: '', TELEGRAM_WEBHOOK_SECRET: '', QSTASH_TOKEN: '', LOG_LEVEL: 'warn', PORT: '0', ...extra };
}

function spawnDev(env = devEnv()): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/server.ts', '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (children.delete(child), resolve(code))));
  return { child, output: () => out, exited };
}

async function startDev(): Promise<Dev & { ms: number }> {
  const started = performance.now();
  const p = spawnDev();
  let url: string | undefined;
  const exitedEarly = p.exited.then(() => {
    throw new Error(`npm run dev exited early:\n${p.output()}`);
  });
  const ready = (async () => {
    while (!(url = /Chat:\s+(http:\/\/localhost:\d+)\//.exec(p.output())?.[1])) await new Promise((r) => setTimeout(r, 50));
  })();
  await Promise.race([ready, exitedEarly]);
  exitedEarly.catch(() => {});
  return { ...p, url: url!, ms: performance.now() - started };
}

async function stopDev(dev: Dev) {
  dev.child.kill('SIGTERM');
  expect(await dev.exited).toBe(0);
  // The embedded PostgreSQL was shut down cleanly with the server.
  expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
}

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as any);
const get = (url: string) => fetch(url).then((r) => r.json() as any);

describe('npm run dev keeps its data in the data directory', () => {
  it('a user, their besitos and their daily claim survive a restart', { timeout: 120_000 }, async () => {
    const first = await startDev();
    expect(first.output()).toContain(`PostgreSQL embebido / embedded en ${path.join(dataDir, 'postgres')}`);
    expect(first.output()).toMatch(/Migraciones \/ Migrations: aplicadas \/ applied 001_foundation\.sql/);
    const user = await post(`${first.url}/dev/users`, { first_name: 'Persistente' });
    const sent = await post(`${first.url}/dev/chats/${user.id}/messages`, { text: '/daily' });
    expect(sent.delivery.status).toBe(200);
    expect(await get(`${first.url}/dev/users/${user.id}/ledger`)).toMatchObject({ besitos: 10 });
    // A second `npm run dev` on the same data directory is told why it cannot start.
    const twin = spawnDev();
    expect(await twin.exited).toBe(1);
    expect(twin.output()).toMatch(/Otro PostgreSQL \(pid \d+\) ya usa/);
    expect(twin.output()).toMatch(/Another PostgreSQL \(pid \d+\) is using/);
    await stopDev(first);

    const second = await startDev();
    expect(second.output()).toMatch(/Migraciones \/ Migrations: al día \/ up to date/);
    // The chat itself is back too (emulator-chats.json next to the database).
    const before = await get(`${second.url}/dev/chats/${user.id}/messages`);
    expect(before.map((m: any) => m.from)).toEqual(['user', 'bot']);
    expect(before[1].text).toMatch(/Recibiste <b>10 besitos<\/b>/);
    const state = await get(`${second.url}/dev/state`);
    expect(state.users).toContainEqual(expect.objectContaining({ id: user.id, first_name: 'Persistente' }));
    expect(await get(`${second.url}/dev/users/${user.id}/ledger`)).toMatchObject({ registered: true, besitos: 10, lifetime: 10 });
    await post(`${second.url}/dev/chats/${user.id}/messages`, { text: '/daily' });
    const messages = await get(`${second.url}/dev/chats/${user.id}/messages`);
    expect(messages.at(-1).text).toContain('Ya reclamaste tu regalo de hoy');
    expect(await get(`${second.url}/dev/users/${user.id}/ledger`)).toMatchObject({ besitos: 10 });
    await stopDev(second);
    console.log(`[dev] start-up to a working chat: fresh data dir ${(first.ms / 1000).toFixed(1)} s, warm ${(second.ms / 1000).toFixed(1)} s`);
  });

  it('says clearly, in Spanish and English, when the port is taken', { timeout: 60_000 }, async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const p = spawnDev(devEnv({ PORT: String(port) }));
      expect(await p.exited).toBe(1);
      expect(p.output()).toContain(`El puerto ${port} ya está en uso`);
      expect(p.output()).toContain(`Port ${port} is already in use`);
      expect(p.output()).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
    } finally {
      blocker.close();
    }
  });
});
