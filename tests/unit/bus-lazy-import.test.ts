import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/**
 * The webhook's cold start must not load @upstash/qstash: a module hook makes resolving it throw,
 * then the Telegram function (and the app with its bus) is imported; the SDK is reached only when
 * something is actually published or verified.
 */
describe('@upstash/qstash is loaded lazily', () => {
  let dir: string;
  afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  it('importing api/telegram.ts does not load it; publishing does', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-lazy-'));
    const hooks = path.join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      `export async function resolve(specifier, context, next) {
         if (specifier === '@upstash/qstash' || specifier.startsWith('@upstash/qstash/')) throw new Error('QSTASH_SDK_LOADED');
         return next(specifier, context);
       }`,
    );
    const register = path.join(dir, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const script = path.join(dir, 'probe.mts');
    await writeFile(
      script,
      `const api = await import(${JSON.stringify(pathToFileURL(path.join(root, 'api/telegram.ts')).href)});
       const app = await import(${JSON.stringify(pathToFileURL(path.join(root, 'lib/app.ts')).href)});
       if (typeof api.default !== 'function' || typeof app.createApp !== 'function') throw new Error('bad import');
       console.log('COLD_START_OK');
       const relay = await import(${JSON.stringify(pathToFileURL(path.join(root, 'lib/bus/relay.ts')).href)});
       const t = relay.qstashTransport({ baseUrl: 'http://127.0.0.1:9', token: 't', publicUrl: 'http://127.0.0.1:9' });
       try { await t.send([{ rowId: 1, eventId: 'e', type: 'x', subscriber: 'audit', body: '{}' }]); }
       catch (err) { console.log(String(err).includes('QSTASH_SDK_LOADED') ? 'SDK_ON_DEMAND' : 'OTHER ' + err); }`,
    );
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--import', register, script], { cwd: root, timeout: 30_000 });
    expect(stdout).toContain('COLD_START_OK');
    expect(stdout).toContain('SDK_ON_DEMAND');
  }, 40_000);
});
