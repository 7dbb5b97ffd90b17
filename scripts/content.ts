// npm run content:check — validates content/story/*.json and prints a summary.
// npm run content:import — validates, then replaces the story in MONGODB_URL.
import { getConfig } from '../lib/config.js';
import { loadStoryFromDir } from '../lib/content/file.js';
import { InvalidContent } from '../lib/content/schema.js';

const command = process.argv[2] ?? 'check';
try {
  const story = await loadStoryFromDir();
  const levels = [...new Set(story.fragments.map((f) => f.level))].sort((a, b) => a - b);
  console.log(
    `Historia válida: ${story.fragments.length} fragmentos (niveles ${levels.join(', ')}), ` +
      `${story.trivia.length} trivias, inicio en "${story.start}".`,
  );
  if (command === 'import') {
    const url = getConfig().MONGODB_URL;
    if (!url) {
      console.error('MONGODB_URL no está definida: no hay dónde importar.');
      process.exit(1);
    }
    const { importStoryToMongo } = await import('../lib/content/mongo.js');
    await importStoryToMongo(url, story);
    console.log('Historia importada a MongoDB.');
  }
} catch (err) {
  if (err instanceof InvalidContent) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
