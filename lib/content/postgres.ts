import type { Queryable } from '../db/client.js';
import { parseContent } from './schema.js';
import type { ContentStore } from './store.js';

/**
 * Content versions as JSONB rows (content_documents, sql/060): the embedded default, used by
 * `npm run dev`, `npm start` and the tests. Rows are immutable (a trigger refuses UPDATE/DELETE).
 * Read back through the schema, so a row edited by hand can't crash the bot.
 */
export function createPostgresContentStore(db: Queryable): ContentStore {
  return {
    kind: 'postgres',
    async put(hash, content) {
      const rows = await db`
        INSERT INTO content_documents (hash, content) VALUES (${hash}, ${db.json(content as never)})
        ON CONFLICT (hash) DO NOTHING RETURNING hash`;
      return rows.length === 1;
    },
    async get(hash) {
      const [row] = await db<{ content: unknown }[]>`SELECT content FROM content_documents WHERE hash = ${hash}`;
      return row ? parseContent(row.content, `content_documents ${hash.slice(0, 12)}`) : null;
    },
  };
}
