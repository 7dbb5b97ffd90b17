import type { Db, MongoClient } from 'mongodb';
import { fragmentSchema, parseStory, triviaSchema, type Story } from './schema.js';
import type { ContentStore } from './store.js';

/**
 * Story content in MongoDB (seed §2.3): collections `fragments`, `trivia` and `story_meta`.
 * The driver is imported lazily so functions that never read content don't load it.
 * Documents are validated on read too: content edited by hand in the database can't crash the bot.
 */
export async function createMongoContentStore(url: string, dbName = 'dianabot'): Promise<ContentStore> {
  const { MongoClient } = await import('mongodb');
  const client: MongoClient = new MongoClient(url, { serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  const db: Db = client.db(dbName);
  const strip = <T extends Record<string, unknown>>(doc: T | null) => {
    if (!doc) return null;
    const { _id, ...rest } = doc;
    return rest;
  };
  return {
    kind: 'mongodb',
    async startFragmentId() {
      const meta = await db.collection('story_meta').findOne({ _id: 'story' as never });
      if (!meta || typeof meta.start !== 'string') throw new Error('story_meta.start is missing: import the content first');
      return meta.start;
    },
    async getFragment(id) {
      const doc = strip(await db.collection('fragments').findOne({ id }));
      return doc ? fragmentSchema.parse(doc) : null;
    },
    async listFragments(opts = {}) {
      const docs = await db.collection('fragments').find(opts.level === undefined ? {} : { level: opts.level }).sort({ level: 1, id: 1 }).toArray();
      return docs.map((d) => fragmentSchema.parse(strip(d)));
    },
    async getTrivia(id) {
      const doc = strip(await db.collection('trivia').findOne({ id }));
      return doc ? triviaSchema.parse(doc) : null;
    },
    async listTrivia(opts = {}) {
      const docs = await db.collection('trivia').find(opts.fragmentId === undefined ? {} : { fragmentId: opts.fragmentId }).sort({ id: 1 }).toArray();
      return docs.map((d) => triviaSchema.parse(strip(d)));
    },
    async close() {
      await client.close();
    },
  };
}

/** Replaces the story in MongoDB with a validated one (npm run content:import). */
export async function importStoryToMongo(url: string, story: Story, dbName = 'dianabot'): Promise<void> {
  parseStory(story, 'import');
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  try {
    const db = client.db(dbName);
    await db.collection('fragments').deleteMany({});
    await db.collection('trivia').deleteMany({});
    if (story.fragments.length) await db.collection('fragments').insertMany(story.fragments.map((f) => ({ ...f })));
    if (story.trivia.length) await db.collection('trivia').insertMany(story.trivia.map((t) => ({ ...t })));
    await db.collection('story_meta').replaceOne({ _id: 'story' as never }, { start: story.start }, { upsert: true });
    await db.collection('fragments').createIndex({ id: 1 }, { unique: true });
    await db.collection('trivia').createIndex({ id: 1 }, { unique: true });
  } finally {
    await client.close();
  }
}
