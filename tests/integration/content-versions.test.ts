import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDb } from '../../lib/db/client.js';
import { loadContentFromDir } from '../../lib/content/file.js';
import { importContent } from '../../lib/content/import.js';
import { createPostgresContentStore } from '../../lib/content/postgres.js';
import { InvalidContent, type Content } from '../../lib/content/schema.js';
import { contentHash } from '../../lib/content/store.js';
import { activateVersion, activeVersionId, ContentCache, NoActiveContent, publishContent } from '../../lib/content/versions.js';
import { loadUserState } from '../../lib/users/state.js';
import { contentStoreContract } from '../support/content-contract.js';
import { testDatabaseUrl, uniqueTelegramId, useTestDb } from '../support/db.js';

const db = useTestDb();
const store = createPostgresContentStore(db);

contentStoreContract('Postgres JSONB', async () => createPostgresContentStore(db));

let edits = 0;
/** Content that differs from the sample (and from every other call) by one fragment's text. */
async function editedSample(): Promise<Content> {
  const c = await loadContentFromDir();
  const n = ++edits;
  return { ...c, fragments: c.fragments.map((f, i) => (i === 1 ? { ...f, text: `${f.text} (edición ${n}, ${process.pid}, ${Math.random()})` } : f)) };
}

describe('content versions', () => {
  it('the test database starts with the sample content active, as npm run dev does', async () => {
    const id = await activeVersionId(db);
    expect(id).not.toBeNull();
    const [row] = await db<{ hash: string }[]>`SELECT hash FROM content_versions WHERE id = ${id}`;
    expect(row!.hash).toBe(contentHash(await loadContentFromDir()));
  });

  it('import is idempotent: same files → same hash → nothing published, nothing activated', async () => {
    const before = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM content_versions`;
    const r = await importContent(db, {});
    expect(r.published).toBe(false);
    expect(r.activated).toBe(false);
    expect(r.version.id).toBe(await activeVersionId(db));
    expect((await db<{ n: number }[]>`SELECT count(*)::int AS n FROM content_versions`)[0]!.n).toBe(before[0]!.n);
  });

  it('new content is a new version and becomes active; rolling back is one statement', async () => {
    const original = await activeVersionId(db);
    const r = await publishContent(db, store, await editedSample());
    expect(r).toMatchObject({ published: true, activated: true });
    expect(r.version.id).toBeGreaterThan(original!);
    expect(await activeVersionId(db)).toBe(r.version.id);
    expect(await activateVersion(db, original!)).toBe(true);
    expect(await activateVersion(db, original!)).toBe(false);
    expect(await activeVersionId(db)).toBe(original);
  });

  it('a version can be published without activating it', async () => {
    const active = await activeVersionId(db);
    const r = await publishContent(db, store, await editedSample(), { activate: false });
    expect(r).toMatchObject({ published: true, activated: false });
    expect(await activeVersionId(db)).toBe(active);
  });

  it('concurrent imports of the same new content publish it once', async () => {
    const content = await editedSample();
    const results = await Promise.all(Array.from({ length: 5 }, () => publishContent(db, store, content, { activate: false })));
    expect(results.filter((r) => r.published)).toHaveLength(1);
    expect(new Set(results.map((r) => r.version.id)).size).toBe(1);
    const [n] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM content_versions WHERE hash = ${contentHash(content)}`;
    expect(n!.n).toBe(1);
  });

  it('published content is immutable in the database', async () => {
    const id = (await activeVersionId(db))!;
    await expect(db`UPDATE content_versions SET store = 'mongodb' WHERE id = ${id}`).rejects.toThrow(/immutable/);
    await expect(db`DELETE FROM content_documents`).rejects.toThrow(/immutable/);
    await expect(db`UPDATE content_active SET version_id = 999999999`).rejects.toThrow(/foreign key/);
  });

  it('the state load reads the active version id in its one statement', async () => {
    const p = { id: uniqueTelegramId(), first_name: 'Ana' };
    const opts = { timeZone: 'America/Mexico_City', now: new Date() };
    const first = await loadUserState(db, p, opts);
    expect(first.contentVersion).toBe(await activeVersionId(db));
    const r = await publishContent(db, store, await editedSample());
    expect((await loadUserState(db, p, opts)).contentVersion).toBe(r.version.id);
  });
});

describe('ContentCache', () => {
  it('serves a cached version with no round trip, loads a new one once, and keeps the previous one at hand', async () => {
    const own = createDb(testDatabaseUrl(), { max: 2 });
    const cache = new ContentCache(own, createPostgresContentStore(own));
    const v1 = (await activeVersionId(db))!;
    const v2 = (await publishContent(db, store, await editedSample(), { activate: false })).version.id;
    const [a, b] = await Promise.all([cache.forVersion(v1), cache.forVersion(v1)]);
    expect(a).toBe(b); // one load shared by concurrent callers
    const c2 = await cache.forVersion(v2);
    expect(c2.version.id).toBe(v2);
    expect(c2.listFragments()[1]!.text).toMatch(/edición/);
    await own.end({ timeout: 5 });
    // With its connections closed, the cache still answers for the versions it holds …
    expect(await cache.forVersion(v1)).toBe(a);
    expect((await cache.forVersion(v2)).version.id).toBe(v2);
    // … and only a version it has not seen needs the database.
    const v3 = (await publishContent(db, store, await editedSample(), { activate: false })).version.id;
    await expect(cache.forVersion(v3)).rejects.toThrow();
  });

  it('keeps the two most recently used versions', async () => {
    const cache = new ContentCache(db, store);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await publishContent(db, store, await editedSample(), { activate: false })).version.id);
    for (const id of ids) await cache.forVersion(id);
    expect(cache.cached(ids[0]!)).toBeNull();
    expect(cache.cached(ids[1]!)).not.toBeNull();
    expect(cache.cached(ids[2]!)).not.toBeNull();
  });

  it('a stored version that fails the schema (written by hand) is refused with every problem, and not cached', async () => {
    const hash = randomBytes(32).toString('hex');
    await db`INSERT INTO content_documents (hash, content) VALUES (${hash}, ${db.json({ start: 'x', levels: [], fragments: [{ key: 'x' }] })})`;
    const [row] = await db<{ id: string }[]>`INSERT INTO content_versions (hash, store) VALUES (${hash}, 'postgres') RETURNING id`;
    const cache = new ContentCache(db, store);
    const err = await cache.forVersion(Number(row!.id)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidContent);
    expect((err as InvalidContent).problems.join('\n')).toMatch(/levels: .*\n[\s\S]*fragments\.0\.level/);
    expect(cache.cached(Number(row!.id))).toBeNull();
  });

  it('nothing published → NoActiveContent; an unknown id → an error; a failed load is retried', async () => {
    const cache = new ContentCache(db, store);
    await expect(cache.forVersion(null)).rejects.toBeInstanceOf(NoActiveContent);
    await expect(cache.forVersion(987654321)).rejects.toThrow(/does not exist/);
    expect(cache.cached(987654321)).toBeNull();
  });
});
