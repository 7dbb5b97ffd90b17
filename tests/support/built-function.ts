import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const LAUNCHER_SOURCE = fileURLToPath(new URL('./function-launcher.ts', import.meta.url));

export interface RunningFunction {
  url: string;
  /** What the function wrote to stderr so far (its logs). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Bundles tests/support/function-launcher.ts into `dir` (once per test file); returns its path. */
export async function buildLauncher(dir: string): Promise<string> {
  const outfile = path.join(dir, 'launcher.mjs');
  await build({ entryPoints: [LAUNCHER_SOURCE], outfile, bundle: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' });
  return outfile;
}

/**
 * Starts a built function (`.vercel/output/functions/…/x.func`) in a child process with only the
 * given environment, working directory = the function folder, served over HTTP like on Vercel.
 */
export async function startBuiltFunction(launcher: string, funcDir: string, env: Record<string, string>): Promise<RunningFunction> {
  const child: ChildProcess = spawn(process.execPath, [launcher], {
    cwd: funcDir,
    env: { PATH: process.env.PATH ?? '', ...env, FUNCTION_DIR: funcDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"port"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`the function exited with ${code} before listening:\n${err}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
