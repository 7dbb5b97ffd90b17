// npm run migrate — applies sql/*.sql to DATABASE_URL, each file once, under an advisory lock.
import { getConfig } from '../lib/config.js';
import { createDb } from '../lib/db/client.js';
import { migrate } from '../lib/db/migrate.js';

const config = getConfig();
if (!config.DATABASE_URL) {
  console.error('DATABASE_URL no está definida: no hay base de datos que migrar.');
  process.exit(1);
}
const db = createDb(config.DATABASE_URL, { max: 1 });
try {
  const result = await migrate(db);
  console.log(
    result.applied.length
      ? `Migraciones aplicadas: ${result.applied.join(', ')}`
      : `Nada que aplicar (${result.alreadyApplied} migraciones ya aplicadas).`,
  );
} catch (err) {
  console.error(`La migración falló: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await db.end();
}
