// npm run content:check — validates content/ and prints a summary.
import { loadContentFromDir } from '../lib/content/file.js';
import { InvalidContent } from '../lib/content/schema.js';
import { contentHash } from '../lib/content/store.js';

try {
  const content = await loadContentFromDir();
  console.log(
    `Contenido válido: ${content.levels.length} niveles, ${content.fragments.length} fragmentos, ` +
      `${content.trivia.length} trivias, inicio en "${content.start}" (hash ${contentHash(content).slice(0, 12)}).`,
  );
} catch (err) {
  if (err instanceof InvalidContent) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
