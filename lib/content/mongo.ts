import type { Db, MongoClient } from 'mongodb';
import { parseContent, type Content } from './schema.js';
import type { ContentStore } from './store.js';

/**
 * Content versions in MongoDB (seed §2.3), one document per item, each tagged with its version hash:
 * `narrative_levels` (level_number), `narrative_content` (fragment_key, level_id, content),
 * `trivia_questions` (question_key), and `content_versions` (hash, start). Indexes are unique on
 * (version_hash, key). The driver is imported lazily so functions that never read content don't
 * load it. Documents are validated on read: content edited by hand in the database can't crash the bot.
 */
export async function createMongoContentStore(url: string, dbName = 'dianabot'): Promise<ContentStore> {
  const { MongoClient } = await import('mongodb');
  // ignoreUndefined: an absent optional field must stay absent (stored as null it would fail the schema on read).
  const client: MongoClient = new MongoClient(url, { serverSelectionTimeoutMS: 5_000, ignoreUndefined: true });
  await client.connect();
  const db: Db = client.db(dbName);
  const levels = db.collection('narrative_levels');
  const fragments = db.collection('narrative_content');
  const trivia = db.collection('trivia_questions');
  const versions = db.collection('content_versions');
  await Promise.all([
    levels.createIndex({ version_hash: 1, level_number: 1 }, { unique: true }),
    fragments.createIndex({ version_hash: 1, fragment_key: 1 }, { unique: true }),
    fragments.createIndex({ version_hash: 1, level_id: 1 }),
    trivia.createIndex({ version_hash: 1, question_key: 1 }, { unique: true }),
    versions.createIndex({ hash: 1 }, { unique: true }),
  ]);
  return {
    kind: 'mongodb',
    async put(hash, content) {
      if (await versions.findOne({ hash, complete: true })) return false;
      // Items first, the version document last: a crash half-way leaves no complete version to read,
      // and a retry replaces the partial items.
      await Promise.all([levels.deleteMany({ version_hash: hash }), fragments.deleteMany({ version_hash: hash }), trivia.deleteMany({ version_hash: hash })]);
      await levels.insertMany(content.levels.map((l, i) => ({ version_hash: hash, level_number: l.number, order: i, content: l })));
      await fragments.insertMany(content.fragments.map((f, i) => ({ version_hash: hash, fragment_key: f.key, level_id: f.level, order: i, content: f })));
      if (content.trivia.length) await trivia.insertMany(content.trivia.map((t, i) => ({ version_hash: hash, question_key: t.key, order: i, content: t })));
      await versions.updateOne({ hash }, { $set: { hash, start: content.start, complete: true, stored_at: new Date() } }, { upsert: true });
      return true;
    },
    async get(hash) {
      const meta = await versions.findOne({ hash, complete: true });
      if (!meta) return null;
      const byOrder = { order: 1 } as const;
      const [l, f, t] = await Promise.all([
        levels.find({ version_hash: hash }).sort(byOrder).toArray(),
        fragments.find({ version_hash: hash }).sort(byOrder).toArray(),
        trivia.find({ version_hash: hash }).sort(byOrder).toArray(),
      ]);
      const raw = { start: meta.start, levels: l.map((d) => d.content), fragments: f.map((d) => d.content), trivia: t.map((d) => d.content) };
      return parseContent(raw, `MongoDB version ${hash.slice(0, 12)}`) satisfies Content;
    },
    async close() {
      await client.close();
    },
  };
}
