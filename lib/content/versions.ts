import type { Queryable, Sql } from '../db/client.js';
import type { Content } from './schema.js';
import { ContentIndex, contentHash, type ContentStore } from './store.js';

export interface ContentVersion {
  id: number;
  hash: string;
}

export interface PublishResult {
  version: ContentVersion;
  /** false: a version with this hash already existed (same content): nothing was written. */
  published: boolean;
  /** true: the active pointer moved to this version. */
  activated: boolean;
}

/** No version has been published yet (`npm run content:import` has never run on this database). */
export class NoActiveContent extends Error {
  constructor() {
    super('no content version is active: run `npm run content:import`');
    this.name = 'NoActiveContent';
  }
}

/**
 * Publishes validated content as a new immutable version and (by default) activates it.
 * Idempotent: the same content has the same hash, so a second import writes nothing (and only
 * re-activates that version if another one is active). The store receives the content before the
 * catalogue row exists, so a row always points at complete content.
 */
export async function publishContent(db: Sql, store: ContentStore, content: Content, opts: { activate?: boolean } = {}): Promise<PublishResult> {
  const hash = contentHash(content);
  let [row] = await db<{ id: string }[]>`SELECT id FROM content_versions WHERE hash = ${hash}`;
  let published = false;
  if (!row) {
    await store.put(hash, content);
    const summary = { levels: content.levels.length, fragments: content.fragments.length, trivia: content.trivia.length };
    [row] = await db<{ id: string }[]>`
      INSERT INTO content_versions (hash, store, summary) VALUES (${hash}, ${store.kind}, ${db.json(summary)})
      ON CONFLICT (hash) DO NOTHING RETURNING id`;
    published = Boolean(row);
    // A concurrent import of the same content won the insert: use its row.
    row ??= (await db<{ id: string }[]>`SELECT id FROM content_versions WHERE hash = ${hash}`)[0];
  }
  const version = { id: Number(row!.id), hash };
  const activated = opts.activate === false ? false : await activateVersion(db, version.id);
  return { version, published, activated };
}

/**
 * Makes a version the active one (also for rolling back): one statement. Returns false when it
 * already was. Instances notice on their next state load (`content_version` column).
 */
export async function activateVersion(db: Queryable, versionId: number): Promise<boolean> {
  const rows = await db`
    INSERT INTO content_active (singleton, version_id) VALUES (true, ${versionId})
    ON CONFLICT (singleton) DO UPDATE SET version_id = EXCLUDED.version_id, activated_at = now()
      WHERE content_active.version_id IS DISTINCT FROM EXCLUDED.version_id
    RETURNING version_id`;
  return rows.length === 1;
}

/** The active version's id, or null before the first import (one indexed read; the state load has it for free). */
export async function activeVersionId(db: Queryable): Promise<number | null> {
  const [row] = await db<{ version_id: string }[]>`SELECT version_id FROM content_active WHERE singleton`;
  return row ? Number(row.version_id) : null;
}

/**
 * The instance's cache of content versions. Callers pass the active version id they already read
 * inside the user-state statement (`UserState.contentVersion`), so an unchanged version costs no
 * round trip at all; a new id is loaded once (concurrent callers share the load). The two most
 * recently used versions stay in memory, so the previous one is still at hand right after a switch
 * (a button pressed on a message sent under it can be recognised and answered as old).
 */
export class ContentCache {
  /** In order of last use (a Map keeps insertion order): the first is the least recently used. */
  private readonly loaded = new Map<number, Promise<ContentIndex>>();

  constructor(private readonly db: Queryable, private readonly store: ContentStore) {}

  /** The content of `versionId` (from `UserState.contentVersion`); null means "nothing published". */
  async forVersion(versionId: number | null): Promise<ContentIndex> {
    if (versionId === null) throw new NoActiveContent();
    let p = this.loaded.get(versionId);
    if (p) {
      if (this.loaded.size > 1) {
        this.loaded.delete(versionId);
        this.loaded.set(versionId, p);
      }
    } else {
      p = this.load(versionId);
      this.loaded.set(versionId, p);
      p.catch(() => this.loaded.delete(versionId)); // a failed load is retried by the next caller
      if (this.loaded.size > 2) this.loaded.delete(this.loaded.keys().next().value!);
    }
    return p;
  }

  /** Reads the active pointer first (one query): for callers without a state load (cron, scripts). */
  async active(): Promise<ContentIndex> {
    return this.forVersion(await activeVersionId(this.db));
  }

  /** A version already in memory, without any I/O (null if not cached). */
  cached(versionId: number): Promise<ContentIndex> | null {
    return this.loaded.get(versionId) ?? null;
  }

  private async load(versionId: number): Promise<ContentIndex> {
    const [row] = await this.db<{ hash: string }[]>`SELECT hash FROM content_versions WHERE id = ${versionId}`;
    if (!row) throw new Error(`content version ${versionId} does not exist`);
    const content = await this.store.get(row.hash);
    if (!content) throw new Error(`content version ${versionId} (${row.hash.slice(0, 12)}) is missing from the ${this.store.kind} store`);
    return new ContentIndex(content, { id: versionId, hash: row.hash });
  }
}
