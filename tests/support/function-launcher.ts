/**
 * Runs one built Vercel function (a `.func` folder of the Build Output API) the way Vercel's Node.js
 * launcher does: reads `.vc-config.json`, imports its `handler` file from the function's own folder,
 * and serves it over node:http with the @vercel/node helpers (dev/vercel-adapter.ts, the same shim
 * `npm run dev` uses). tests/support/built-function.ts bundles this file and starts it in a child
 * process whose working directory is the function folder, so nothing outside it can be reached.
 * Env: FUNCTION_DIR. Prints `{"port":N}` once listening.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runVercelHandler, type VercelHandler } from '../../dev/vercel-adapter.js';

const dir = process.env.FUNCTION_DIR!;
const config = JSON.parse(readFileSync(path.join(dir, '.vc-config.json'), 'utf8')) as { handler: string; launcherType: string; shouldAddHelpers?: boolean };
if (config.launcherType !== 'Nodejs' || !config.shouldAddHelpers) throw new Error(`unexpected .vc-config.json: ${JSON.stringify(config)}`);
const mod = (await import(pathToFileURL(path.join(dir, config.handler)).href)) as { default: VercelHandler };
const server = createServer((req, res) => {
  void runVercelHandler(mod.default, req, res, (err) => console.error('function failed:', err));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
