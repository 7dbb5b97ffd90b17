// npm run lint:story [-- <content folder>] [--max-fragment-besitos N]
// Prints every problem in the story with its file and key; exits 1 on errors, 0 on warnings only.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CONTENT_DIR } from '../lib/content/file.js';
import { DEFAULT_MAX_FRAGMENT_BESITOS, formatLint, lintContentDir } from '../lib/content/lint.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'max-fragment-besitos': { type: 'string', default: String(DEFAULT_MAX_FRAGMENT_BESITOS) } },
});
const cap = Number(values['max-fragment-besitos']);
if (!Number.isInteger(cap) || cap < 0) {
  console.error(`--max-fragment-besitos must be a whole number, got "${values['max-fragment-besitos']}"`);
  process.exit(2);
}
const dir = positionals[0] ? path.resolve(positionals[0]) : DEFAULT_CONTENT_DIR;
const problems = await lintContentDir(dir, { maxFragmentBesitos: cap });
console.log(`lint:story ${path.relative(process.cwd(), dir) || '.'}\n${formatLint(problems)}`);
process.exitCode = problems.some((p) => p.severity === 'error') ? 1 : 0;
