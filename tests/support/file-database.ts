// Vitest setup file: runs before each test file, in its worker. Gives the file a database of its own,
// copied from the run's migrated template (CREATE DATABASE … TEMPLATE is a file copy, ~0.1 s).
import { afterAll, inject } from 'vitest';
import { createDb } from '../../lib/db/client.js';

const template = inject('templateDatabase');
const adminUrl = inject('adminDatabaseUrl');
const name = `${template}_f${Math.floor(Math.random() * 1e9)}`;

const admin = createDb(adminUrl, { max: 1 });
for (let attempt = 1; ; attempt++) {
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    break;
  } catch (err) {
    // Another worker copying the same template at this instant: wait and try again.
    if (attempt >= 20) throw err;
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
  }
}
await admin.end();

const url = new URL(adminUrl);
url.pathname = `/${name}`;
(globalThis as { __dianabotTestDatabaseUrl?: string }).__dianabotTestDatabaseUrl = url.toString();

afterAll(async () => {
  const a = createDb(adminUrl, { max: 1 });
  await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  await a.end();
});
