import { z } from 'zod';
import { lazy } from '../lazy.js';
import { registerCommand } from '../commands/index.js';
import type { Queryable, Sql } from '../db/client.js';
import type { BusEvent } from '../bus/events.js';
import type { Tx } from '../bus/subscriber.js';
import { KeyValueUnavailable, type KeyValueStore, type ScoredMember } from '../kv/types.js';
import { kvScript, runScript } from '../kv/script.js';
import type { Logger } from '../log.js';
import { lockUser } from './repository.js';
import {
  ALL_MARKER_TTL_SECONDS,
  boardKey,
  BOARDS,
  builtMarker,
  compareEntries,
  rankingName,
  rebuildLock,
  TOP,
  WEEK_TTL_SECONDS,
  weekOf,
  type Board,
  type RankEntry,
} from './rules-ranking.js';

/**
 * Rankings (/ranking). What counts (rules-ranking.ts): ledger grants, and reversals of grants.
 *: Redis sorted sets kept in step by the gamification subscriber, rebuilt from
 * Postgres (the ledger) when a board's marker is missing: Redis emptied, the in-memory store after a
 * start, the all-time marker's daily expiry. Postgres stays the record: with the store down,
 * /ranking computes the same board from SQL.
 *
 * The subscriber writes absolute scores read from Postgres (ZADD, not ZINCRBY): a replayed, late or
 * duplicated event writes the same number again, and the per-user gamification lock (lockUser) makes
 * a user's events write in commit order. An erased user (/borrar) is removed, and never shown: names
 * are read with `deleted_at IS NULL`, so a member that slipped in is dropped (and removed) at read.
 */

/**
 * A board's scores over Postgres, for rebuilds and the fallback (live users with a positive score);
 * `only`: just these users (a rebuild's second look at the members it is about to change).
 */
async function scoresFromPostgres(db: Queryable, board: Board, now: Date, timeZone: string, only?: number[]): Promise<RankEntry[]> {
  const among = only ? db`AND u.id = ANY(${db.array(only)}::bigint[])` : db``;
  const rows =
    board === 'all'
      ? await db<{ user_id: string; score: string }[]>`
          SELECT b.user_id, b.lifetime_besitos AS score
            FROM user_balances b JOIN users u ON u.id = b.user_id AND u.deleted_at IS NULL ${among}
           WHERE b.lifetime_besitos > 0`
      : await (async () => {
          const w = weekOf(now, timeZone);
          return db<{ user_id: string; score: string }[]>`
            SELECT t.user_id, sum(t.amount) AS score
              FROM transactions t
              JOIN users u ON u.id = t.user_id AND u.deleted_at IS NULL ${among}
              LEFT JOIN transactions o ON o.id = t.reverses
             WHERE t.created_at >= ${w.start} AND t.created_at < ${w.end}
               AND (t.type = 'grant' OR (t.type = 'reversal' AND o.type = 'grant'))
             GROUP BY t.user_id
            HAVING sum(t.amount) > 0`;
        })();
  return rows.map((r) => ({ userId: Number(r.user_id), score: Number(r.score) }));
}

/** The board computed from Postgres, sorted as Redis sorts it (what the tests compare the sets with). */
export async function boardFromPostgres(db: Queryable, board: Board, now: Date, timeZone: string): Promise<RankEntry[]> {
  return (await scoresFromPostgres(db, board, now, timeZone)).sort(compareEntries);
}

const CHUNK = 2_000;
const PARALLEL = 8;
/** Above this many changed members a rebuild writes its snapshot without looking at them again. */
const SECOND_LOOK_MAX = 5_000;

/** What a rebuild changed in a sorted set (0 and 0: it already equalled Postgres). */
export interface RebuildResult {
  written: number;
  removed: number;
}

/**
 * Makes a board's sorted set equal Postgres and sets its marker: on a read that finds no marker, and
 * hourly (ranking-rebuild.ts). It writes only the difference — the set is never emptied on the way, so
 * readers never see a blank board — and reads the members it is about to change once more just before
 * writing (up to SECOND_LOOK_MAX of them), so a grant the subscriber wrote while the whole board was
 * being read is not put back to the older score (what remains is a window of milliseconds; the user's
 * next earning or the next rebuild heals it). One rebuild at a time per board (a short lock key); null when another holds it.
 */
export async function rebuildBoard(db: Queryable, kv: KeyValueStore, board: Board, now: Date, timeZone: string): Promise<RebuildResult | null> {
  const week = board === 'week' ? weekOf(now, timeZone) : null;
  const key = boardKey(board, week);
  if (!(await kv.set(rebuildLock(key), '1', { onlyIfAbsent: true, ttlSeconds: 60 }))) return null;
  try {
    const [entries, current] = await Promise.all([scoresFromPostgres(db, board, now, timeZone), kv.zrevrange(key, 0, -1)]);
    const inSet = new Map(current.map((m) => [m.member, m.score]));
    const wanted = new Map(entries.map((e) => [String(e.userId), e.score]));
    const changed = new Set<string>();
    for (const [member, score] of wanted) if (inSet.get(member) !== score) changed.add(member);
    for (const member of inSet.keys()) if (!wanted.has(member)) changed.add(member);
    const ids = [...changed].map(Number).filter((id) => Number.isSafeInteger(id) && id > 0);
    // A board built from nothing (or mostly wrong) is written from the snapshot as it is: a second look
    // at every member would double the rebuild for a race of milliseconds.
    const fresh =
      ids.length === 0 ? [] : ids.length > SECOND_LOOK_MAX ? entries.filter((e) => changed.has(String(e.userId))) : await scoresFromPostgres(db, board, now, timeZone, ids);
    const write = fresh.map((e) => ({ member: String(e.userId), score: e.score }));
    const written = new Set(write.map((m) => m.member));
    // Members not in Postgres any more (erased, a reversed week, anything that is not a user id) go.
    const remove = [...changed].filter((m) => !written.has(m));
    // Chunks in flight together (a few at a time): one round trip per chunk would make a 100,000-member board slow.
    const ops: (() => Promise<unknown>)[] = [];
    for (let i = 0; i < write.length; i += CHUNK) ops.push(() => kv.zadd(key, write.slice(i, i + CHUNK)));
    for (let i = 0; i < remove.length; i += CHUNK) ops.push(() => kv.zrem(key, ...remove.slice(i, i + CHUNK)));
    for (let i = 0; i < ops.length; i += PARALLEL) await Promise.all(ops.slice(i, i + PARALLEL).map((op) => op()));
    const ttl = board === 'week' ? WEEK_TTL_SECONDS : ALL_MARKER_TTL_SECONDS;
    if (board === 'week' && entries.length > 0) await kv.expire(key, WEEK_TTL_SECONDS);
    await kv.set(builtMarker(key), String(now.getTime()), { ttlSeconds: ttl });
    return { written: write.length, removed: remove.length };
  } finally {
    await kv.del(rebuildLock(key)).catch(() => {});
  }
}

/**
 * The subscriber's step for a ledger event: a grant (or the reversal of one) sets the user's scores
 * on both boards from Postgres. Runs under the user's gamification lock, with the user row held
 * FOR KEY SHARE (what /borrar's FOR UPDATE waits for), so an erasure either comes after this
 * transaction (and its ZREM after these ZADDs) or makes this one remove the user.
 * A store that is down is logged and skipped: the money is in Postgres, the boards catch up at the
 * user's next earning or the next rebuild.
 */
export async function updateRankings(tx: Tx, kv: KeyValueStore | undefined, event: BusEvent, timeZone: string, log: Logger): Promise<void> {
  if (!kv || !event.user_id) return;
  if (event.type !== 'gamification.besitos_earned' && event.type !== 'gamification.besitos_spent') return;
  if (event.type === 'gamification.besitos_spent' && event.data.reversal_of === undefined) return; // a spend earns nothing
  const userId = event.user_id;
  // The read goes right behind the lock (one round trip) and starts once it is granted.
  const [, [row]] = await Promise.all([lockUser(tx, userId), tx<{ counts: boolean; active: boolean; lifetime: string | null; monday: string; weekly: string }[]>`
    WITH t AS (
      SELECT t.created_at, (t.type = 'grant' OR (t.type = 'reversal' AND o.type = 'grant')) AS counts,
             (date_trunc('week', t.created_at AT TIME ZONE ${timeZone})) AS local_monday
        FROM transactions t LEFT JOIN transactions o ON o.id = t.reverses
       WHERE t.id = ${event.data.transaction_id} AND t.user_id = ${userId}
    )
    SELECT t.counts,
           EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND deleted_at IS NULL FOR KEY SHARE) AS active,
           (SELECT lifetime_besitos FROM user_balances WHERE user_id = ${userId}) AS lifetime,
           to_char(t.local_monday, 'YYYY-MM-DD') AS monday,
           (SELECT COALESCE(sum(t2.amount), 0)
              FROM transactions t2 LEFT JOIN transactions o ON o.id = t2.reverses
             WHERE t2.user_id = ${userId}
               AND t2.created_at >= (t.local_monday AT TIME ZONE ${timeZone})
               AND t2.created_at < ((t.local_monday + interval '7 days') AT TIME ZONE ${timeZone})
               AND (t2.type = 'grant' OR (t2.type = 'reversal' AND o.type = 'grant'))) AS weekly
      FROM t`]);
  if (!row || !row.counts) return;
  const member = String(userId);
  const all = boardKey('all', null);
  const week = boardKey('week', { monday: row.monday });
  try {
    if (!row.active) {
      await Promise.all([kv.zrem(all, member), kv.zrem(week, member)]);
      return;
    }
    const lifetime = Number(row.lifetime ?? 0);
    const weekly = Number(row.weekly);
    await Promise.all([
      lifetime > 0 ? kv.zadd(all, [{ member, score: lifetime }]) : kv.zrem(all, member),
      weekly > 0 ? kv.zadd(week, [{ member, score: weekly }]) : kv.zrem(week, member),
      kv.expire(week, WEEK_TTL_SECONDS),
    ]);
  } catch (err) {
    if (!(err instanceof KeyValueUnavailable)) throw err;
    log.warn({ msg: 'ranking: key-value store unavailable, board left to catch up', user: userId, event: event.event_id });
  }
}

/**
 * /borrar: the user leaves the all-time board and this week's and last week's (older weeks expire).
 * The erasure knows no time zone: the weeks are those of every zone (UTC ± a day) — a ZREM of an
 * absent member is harmless.
 */
export async function removeFromRankings(kv: KeyValueStore, userId: number, now: Date): Promise<void> {
  const member = String(userId);
  const keys = new Set([boardKey('all', null)]);
  for (const days of [-8, -7, -6, -1, 0, 1]) keys.add(boardKey('week', weekOf(new Date(now.getTime() + days * 86_400_000), 'UTC')));
  await Promise.all([...keys].map((k) => kv.zrem(k, member)));
}

export interface RankingRow {
  position: number;
  name: string;
  score: number;
  me: boolean;
}

export interface RankingView {
  board: Board;
  /** The Monday of the week shown (board 'week'). */
  monday: string | null;
  top: RankingRow[];
  /** The user's own place; null: not on the board yet (nothing earned in the period). */
  me: { position: number; score: number } | null;
  /** 'redis': from the sorted sets; 'postgres': computed from the ledger (store down or being rebuilt). */
  source: 'redis' | 'postgres';
  /** The user chose to appear as «Anónimo» (/ranking's button). */
  anonymous: boolean;
}

interface RawBoard {
  top: ScoredMember[];
  rank: number | null;
  score: number | null;
}

/** Extra members read beyond the top 10, to fill in for erased ones dropped at read. */
const SPARE = 5;

async function readBoard(kv: KeyValueStore, key: string, userId: number): Promise<RawBoard & { built: boolean }> {
  const member = String(userId);
  const [built, top, rank, score] = await Promise.all([
    kv.get(builtMarker(key)),
    kv.zrevrange(key, 0, TOP + SPARE - 1),
    kv.zrevrank(key, member),
    kv.zscore(key, member),
  ]);
  return { built: built !== null, top, rank, score };
}

async function readFromPostgres(db: Queryable, board: Board, userId: number, now: Date, timeZone: string): Promise<RawBoard> {
  const all = await boardFromPostgres(db, board, now, timeZone);
  const at = all.findIndex((e) => e.userId === userId);
  return {
    top: all.slice(0, TOP + SPARE).map((e) => ({ member: String(e.userId), score: e.score })),
    rank: at < 0 ? null : at,
    score: at < 0 ? null : all[at]!.score,
  };
}

/**
 * A board for /ranking: top 10 with names, and the user's own place. From Redis; a missing board is
 * rebuilt from Postgres first; with the store down (or while another instance rebuilds) the same
 * board is computed from Postgres.
 */
export async function rankingView(
  db: Sql,
  kv: KeyValueStore,
  p: { userId: number; board: Board; now: Date; timeZone: string; log?: Logger },
): Promise<RankingView> {
  const week = p.board === 'week' ? weekOf(p.now, p.timeZone) : null;
  const key = boardKey(p.board, week);
  let raw: RawBoard;
  let source: RankingView['source'] = 'redis';
  try {
    let read = await readBoard(kv, key, p.userId);
    if (!read.built) {
      if (await rebuildBoard(db, kv, p.board, p.now, p.timeZone)) read = await readBoard(kv, key, p.userId);
      else throw new RebuildInProgress();
    }
    raw = read;
  } catch (err) {
    if (!(err instanceof KeyValueUnavailable) && !(err instanceof RebuildInProgress)) throw err;
    p.log?.warn({ msg: 'ranking: served from Postgres', reason: err instanceof RebuildInProgress ? 'rebuilding' : 'store unavailable', user: p.userId });
    raw = await readFromPostgres(db, p.board, p.userId, p.now, p.timeZone);
    source = 'postgres';
  }
  const ids = raw.top.map((m) => Number(m.member)).filter((n) => Number.isSafeInteger(n) && n > 0);
  // The top's names and the user's own choice, in one statement.
  const rows = await db<{ id: string; first_name: string | null; anonymous: boolean }[]>`
    SELECT id, first_name, COALESCE((metadata->>'ranking_anonymous')::boolean, false) AS anonymous
      FROM users WHERE id IN ${db([...new Set([...ids, p.userId])])} AND deleted_at IS NULL`;
  const anonymous = rows.some((r) => Number(r.id) === p.userId && r.anonymous);
  const names = new Map(rows.filter((r) => ids.includes(Number(r.id))).map((r) => [Number(r.id), rankingName(r.first_name, r.anonymous)]));
  // Erased users (or anything that is not a live user) are never shown, and leave the set.
  const gone = raw.top.filter((m) => !names.has(Number(m.member)));
  if (gone.length && source === 'redis') await kv.zrem(key, ...gone.map((m) => m.member)).catch(() => {});
  const live = raw.top.filter((m) => names.has(Number(m.member)));
  const top = live.slice(0, TOP).map((m, i) => ({ position: i + 1, name: names.get(Number(m.member))!, score: m.score, me: Number(m.member) === p.userId }));
  let me: RankingView['me'] = null;
  if (raw.rank !== null && raw.score !== null && raw.score > 0) {
    const goneAbove = raw.top.slice(0, raw.rank).filter((m) => !names.has(Number(m.member))).length;
    me = { position: raw.rank + 1 - goneAbove, score: raw.score };
  }
  return { board: p.board, monday: week?.monday ?? null, top, me, source, anonymous };
}

class RebuildInProgress extends Error {
  constructor() {
    super('ranking board being rebuilt by another instance');
    this.name = 'RebuildInProgress';
  }
}

/** The user's choice of how /ranking names them: their first name, or «Anónimo». A command (keyed by the press). */
export const rankingVisibilityCommand = registerCommand<{ anonymous: boolean }, { anonymous: boolean }>({
  name: 'ranking.visibility',
  params: lazy(() => z.object({ anonymous: z.boolean() })),
  async execute({ tx, userId }, p) {
    await tx`
      UPDATE users SET metadata = jsonb_set(metadata, '{ranking_anonymous}', to_jsonb(${p.anonymous}::boolean))
       WHERE id = ${userId} AND deleted_at IS NULL`;
    return { anonymous: p.anonymous };
  },
});

/** The user's place on each board: null when not on it (nothing earned in the period). */
export type Places = Record<Board, { position: number; score: number } | null>;

/**
 * Both boards (KEYS: week set, its marker, all-time set, its marker): per board whether the marker
 * exists, the member's rank (-1: absent) and score ('' when absent). One table constructor, not a loop:
 * the in-memory store's Lua (ioredis-mock) returns nothing for a table filled element by element.
 */
const PLACES_SCRIPT = kvScript(`
local function place(key)
  local rank = redis.call('ZREVRANK', key, ARGV[1])
  local score = redis.call('ZSCORE', key, ARGV[1])
  return rank and rank or -1, score and score or ''
end
local wr, ws = place(KEYS[1])
local ar, as = place(KEYS[3])
return {redis.call('EXISTS', KEYS[2]), wr, ws, redis.call('EXISTS', KEYS[4]), ar, as}`);

async function readPlaces(kv: KeyValueStore, keys: string[], userId: number): Promise<{ built: boolean; place: Places[Board] }[]> {
  const flat = (await runScript(kv, PLACES_SCRIPT, keys.flatMap((k) => [k, builtMarker(k)]), [String(userId)])) as (number | string)[];
  return keys.map((_, i) => {
    const [built, rank, raw] = [Number(flat[i * 3]), Number(flat[i * 3 + 1]), flat[i * 3 + 2]];
    const score = raw === '' || raw == null ? 0 : Number(raw);
    return { built: built === 1, place: rank >= 0 && score > 0 ? { position: rank + 1, score } : null };
  });
}

/**
 * /perfil's ranking section: the user's weekly and all-time place in one key-value command (a script
 * reading both boards). A board not built yet is rebuilt first, as /ranking does. Null when the store
 * is down or being rebuilt elsewhere: /perfil then points to /ranking, which computes it from Postgres.
 */
export async function placesOf(db: Queryable, kv: KeyValueStore, p: { userId: number; now: Date; timeZone: string }): Promise<Places | null> {
  const keys = BOARDS.map((b) => boardKey(b, b === 'week' ? weekOf(p.now, p.timeZone) : null));
  try {
    let read = await readPlaces(kv, keys, p.userId);
    const missing = BOARDS.filter((_, i) => !read[i]!.built);
    if (missing.length) {
      for (const b of missing) if (!(await rebuildBoard(db, kv, b, p.now, p.timeZone))) return null;
      read = await readPlaces(kv, keys, p.userId);
    }
    return Object.fromEntries(BOARDS.map((b, i) => [b, read[i]!.place])) as Places;
  } catch (err) {
    if (err instanceof KeyValueUnavailable) return null;
    throw err;
  }
}
