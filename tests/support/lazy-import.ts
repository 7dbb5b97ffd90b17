import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';

const run = promisify(execFile);
export const root = path.resolve(import.meta.dirname, '../..');

/** A repository file as an import() specifier for the probe script. */
export const moduleUrl = (file: string) => JSON.stringify(pathToFileURL(path.join(root, file)).href);

/**
 * Runs a probe in a fresh Node process where resolving any specifier that `forbidden` matches throws
 * an error containing `marker`. The probe first imports api/telegram.ts and lib/app.ts (printing
 * COLD_START_OK), then runs `then` (a script body that should reach the forbidden module). Returns stdout.
 */
export async function probeLazyImport(opts: { forbidden: string; marker: string; then: string }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-lazy-'));
  try {
    const hooks = path.join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      `export async function resolve(specifier, context, next) {
         if (${opts.forbidden}) throw new Error(${JSON.stringify(opts.marker)});
         return next(specifier, context);
       }`,
    );
    const register = path.join(dir, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const script = path.join(dir, 'probe.mts');
    await writeFile(
      script,
      `const api = await import(${moduleUrl('api/telegram.ts')});
       const app = await import(${moduleUrl('lib/app.ts')});
       if (typeof api.default !== 'function' || typeof app.createApp !== 'function') throw new Error('bad import');
       console.log('COLD_START_OK');
       ${opts.then}`,
    );
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--import', register, script], { cwd: root, timeout: 30_000 });
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
