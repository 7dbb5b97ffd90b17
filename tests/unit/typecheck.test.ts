import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/**
 * `npm test` includes the type check, so every place that runs the README's test command (.ci/run,
 * a newcomer's machine) catches type errors, and a type error is counted as a failed test.
 */
describe('type check', () => {
  it('tsc --noEmit reports no errors in the project', async () => {
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', root], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      () => ({ code: 0, output: '' }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    // The compiler's own lines (file(line,col): error TS…) are the failure message.
    expect(result.output.trim(), 'tsc --noEmit found type errors').toBe('');
    expect(result.code).toBe(0);
  }, 240_000);
});
