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
 * The webhook's cold start must not load the chart renderer (@resvg/resvg-wasm, a WebAssembly module):
 * a module hook makes resolving it throw, the Telegram function and the app are imported, and only
 * drawing a chart reaches it.
 */
describe('the chart renderer is loaded lazily', () => {
  let dir: string;
  afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  it('importing api/telegram.ts does not load it; drawing a chart does', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-lazy-chart-'));
    const hooks = path.join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      `export async function resolve(specifier, context, next) {
         if (specifier.startsWith('@resvg/')) throw new Error('RESVG_LOADED');
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
       const chart = await import(${JSON.stringify(pathToFileURL(path.join(root, 'lib/economy/chart.ts')).href)});
       try { await chart.svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'); }
       catch (err) { console.log(String(err).includes('RESVG_LOADED') ? 'RENDERER_ON_DEMAND' : 'OTHER ' + err); }`,
    );
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--import', register, script], { cwd: root, timeout: 30_000 });
    expect(stdout).toContain('COLD_START_OK');
    expect(stdout).toContain('RENDERER_ON_DEMAND');
  }, 40_000);
});
