// npm run content:check — validates content/ and prints a summary (no database needed).
// npm run content:import — validates content/ and publishes it as the active version in DATABASE_URL
//   (content in MongoDB when MONGODB_URL is set); unchanged files publish nothing.
import { getConfig } from '../lib/config.js';
import { createDb } from '../lib/db/client.js';
import { loadContentFromDir } from '../lib/content/file.js';
import { describeImport, importContent } from '../lib/content/import.js';
import { InvalidContent } from '../lib/content/schema.js';
import { contentHash } from '../lib/content/store.js';

const command = process.argv[2] ?? 'check';
try {
  const content = await loadContentFromDir();
  console.log(
    `Contenido válido: ${content.levels.length} niveles, ${content.fragments.length} fragmentos, ` +
      `${content.trivia.length} trivias, inicio en "${content.start}" (hash ${contentHash(content).slice(0, 12)}).`,
  );
  if (command === 'import') {
    const config = getConfig();
    if (!config.DATABASE_URL) {
      console.error('DATABASE_URL no está definida: no hay dónde publicar el contenido.');
      process.exit(1);
    }
    const db = createDb(config.DATABASE_URL, { max: 2 });
    try {
      console.log(describeImport(await importContent(db, config)));
    } finally {
      await db.end({ timeout: 5 });
    }
  }
} catch (err) {
  if (err instanceof InvalidContent) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
