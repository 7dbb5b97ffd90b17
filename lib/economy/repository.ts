import type postgres from 'postgres';
import type { Queryable } from '../db/client.js';
import type { PeriodTotal, SubjectGrant } from './rules.js';

/** What the ledger says a user earned from one source in a window (grants and gifts received, reversed grants left out). */
export interface EarningRow {
  userId: number;
  source: string;
  besitos: number;
  grants: number;
}

// A grant an admin rolled back (lib/besitos/rollback) is no longer evidence against anyone.
const notReversed = (db: Queryable) => db`NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = t.id)`;

export async function earningsInWindow(db: Queryable, start: Date, end: Date): Promise<EarningRow[]> {
  const rows = await db<{ user_id: string; source: string; besitos: string; grants: number }[]>`
    SELECT t.user_id, split_part(t.source, ':', 1) AS source, sum(t.amount)::bigint AS besitos, count(*)::int AS grants
      FROM transactions t
     WHERE t.created_at >= ${start} AND t.created_at < ${end}
       AND t.type IN ('grant', 'transfer_in') AND ${notReversed(db)}
     GROUP BY 1, 2`;
  return rows.map((r) => ({ userId: Number(r.user_id), source: r.source, besitos: Number(r.besitos), grants: r.grants }));
}

// Whose caps a grant counted in: as the ledger's capSubject (lib/besitos/ledger.ts) — the person on the
// account (users.person, kept after /borrar), else the account itself.
const capSubject = (db: Queryable) => db`COALESCE(u.person, 'user:' || t.user_id::text)`;

/** Grants per person (cap subject), source family and local day / ISO week (Monday), for the families that have a cap. */
export async function grantPeriods(db: Queryable, start: Date, end: Date, timeZone: string, families: string[]): Promise<PeriodTotal[]> {
  if (families.length === 0) return [];
  const rows = await db<{ subject: string; source: string; period: 'day' | 'week'; key: string; grants: number; besitos: string }[]>`
    WITH g AS (
      SELECT ${capSubject(db)} AS subject, split_part(t.source, ':', 1) AS source, t.amount, (t.created_at AT TIME ZONE ${timeZone}) AS local
        FROM transactions t JOIN users u ON u.id = t.user_id
       WHERE t.created_at >= ${start} AND t.created_at < ${end}
         AND t.type = 'grant' AND split_part(t.source, ':', 1) IN ${db(families)} AND ${notReversed(db)}
    )
    SELECT subject, source, 'day' AS period, to_char(local, 'YYYY-MM-DD') AS key, count(*)::int AS grants, sum(amount)::bigint AS besitos
      FROM g GROUP BY 1, 2, 4
    UNION ALL
    SELECT subject, source, 'week', to_char(date_trunc('week', local), 'YYYY-MM-DD'), count(*)::int, sum(amount)::bigint
      FROM g GROUP BY 1, 2, 4`;
  return rows.map((r) => ({ subject: r.subject, source: r.source, period: r.period, key: r.key, grants: r.grants, besitos: Number(r.besitos) }));
}

/** The grants of some persons' capped sources in a window, in ledger order, with the account each went to. */
export async function subjectGrants(db: Queryable, start: Date, end: Date, timeZone: string, subjects: string[], families: string[]): Promise<SubjectGrant[]> {
  if (subjects.length === 0 || families.length === 0) return [];
  const rows = await db<{ user_id: string; subject: string; source: string; amount: string; day: string; week: string }[]>`
    SELECT t.user_id, ${capSubject(db)} AS subject, split_part(t.source, ':', 1) AS source, t.amount,
           to_char(t.created_at AT TIME ZONE ${timeZone}, 'YYYY-MM-DD') AS day,
           to_char(date_trunc('week', t.created_at AT TIME ZONE ${timeZone}), 'YYYY-MM-DD') AS week
      FROM transactions t JOIN users u ON u.id = t.user_id
     WHERE t.created_at >= ${start} AND t.created_at < ${end}
       AND t.type = 'grant' AND split_part(t.source, ':', 1) IN ${db(families)} AND ${notReversed(db)}
       AND ${capSubject(db)} = ANY(${subjects}::text[])
     ORDER BY t.created_at, t.id`;
  return rows.map((r) => ({ userId: Number(r.user_id), subject: r.subject, source: r.source, amount: Number(r.amount), day: r.day, week: r.week }));
}

/**
 * How a grant of a source is proven by the action that caused it: an SQL condition on the grant row
 * `t`. Grants made by a command (story, trivia, shop refunds …) share their transaction with the
 * command's action row, whose completed_at is that transaction's now() — the grant's created_at.
 * Sources without a proof here are not checked (a new source adds its proof with registerGrantProof).
 */
export type GrantProof = (db: Queryable, w: { start: Date; end: Date }) => postgres.PendingQuery<postgres.Row[]> | postgres.Fragment;

// The window bounds let the planner hash the window's actions once instead of probing each user's history per grant.
const byCommand: GrantProof = (db, w) =>
  db`EXISTS (SELECT 1 FROM actions a WHERE a.user_id = t.user_id AND a.completed_at = t.created_at AND a.completed_at >= ${w.start} AND a.completed_at < ${w.end} AND a.status IN ('done', 'undone'))`;

export const grantProofs = new Map<string, GrantProof>([
  ['daily', (db) => db`EXISTS (SELECT 1 FROM daily_claims d WHERE d.transaction_id = t.id)`],
  ['mission', (db) => db`EXISTS (SELECT 1 FROM user_missions m WHERE m.user_id = t.user_id AND m.mission_key = t.description AND m.status = 'completed')`],
  ['achievement', (db) => db`EXISTS (SELECT 1 FROM user_achievements a WHERE a.user_id = t.user_id AND a.achievement_key = t.description AND a.unlocked_at IS NOT NULL)`],
  ['trivia', byCommand],
  ['story', byCommand],
]);

export function registerGrantProof(source: string, proof: GrantProof): void {
  grantProofs.set(source, proof);
}

export interface UnmatchedRow {
  userId: number;
  source: string;
  grants: number;
  besitos: number;
  transactionIds: number[];
}

/** Grants in the window that no action explains, per user and source. */
export async function unmatchedGrants(db: Queryable, start: Date, end: Date): Promise<UnmatchedRow[]> {
  const out: UnmatchedRow[] = [];
  for (const [source, proof] of grantProofs) {
    const rows = await db<{ user_id: string; grants: number; besitos: string; ids: string[] }[]>`
      SELECT t.user_id, count(*)::int AS grants, sum(t.amount)::bigint AS besitos, (array_agg(t.id ORDER BY t.id))[1:20] AS ids
        FROM transactions t
       WHERE t.created_at >= ${start} AND t.created_at < ${end}
         AND t.type = 'grant' AND split_part(t.source, ':', 1) = ${source} AND ${notReversed(db)}
         AND NOT ${proof(db, { start, end })}
       GROUP BY t.user_id`;
    for (const r of rows) out.push({ userId: Number(r.user_id), source, grants: r.grants, besitos: Number(r.besitos), transactionIds: r.ids.map(Number) });
  }
  return out;
}

export interface FlagInput {
  userId: number;
  kind: 'outlier' | 'over_cap' | 'unmatched';
  source: string;
  windowKey: string;
  windowStart: Date;
  windowEnd: Date;
  amount: number;
  score: number | null;
  detail: Record<string, unknown>;
}

export interface FlagRow {
  id: number;
  userId: number;
  kind: FlagInput['kind'];
  source: string;
  windowKey: string;
  amount: number;
  score: number | null;
  detail: Record<string, unknown>;
  status: 'open' | 'dismissed' | 'reverted';
  createdAt: Date;
}

const toFlag = (r: Record<string, any>): FlagRow => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  kind: r.kind,
  source: r.source,
  windowKey: r.window_key,
  amount: Number(r.amount),
  score: r.score === null ? null : Number(r.score),
  detail: r.detail ?? {},
  status: r.status,
  createdAt: new Date(r.created_at),
});

/**
 * Writes the flags, in one statement. A flag is new (inserted, returned in `created`: the admins are
 * told) unless the same user already has one of the same kind and source that covers it:
 *   - an open flag whose window overlaps this one: the sliding window finds the same outlier or
 *     unmatched grants every run for up to 7 days, so that flag gets the latest figures and its window
 *     is extended to the new end instead of a second flag being raised each day;
 *   - any flag (also dismissed or reverted) with the same window key: it gets the latest evidence.
 * A breach of a cap is per week (key `semana:<lunes>`): only its own week's flag covers it.
 * Callers serialise runs (lockFlags), so two runs can't both find nothing and both insert.
 */
export async function upsertFlags(db: Queryable, flags: FlagInput[]): Promise<{ created: FlagRow[]; updated: number }> {
  if (flags.length === 0) return { created: [], updated: 0 };
  const rows = await db<(Record<string, any> & { inserted: boolean })[]>`
    WITH x AS (
      SELECT * FROM jsonb_to_recordset(${db.json(
        flags.map((f, i) => ({
          ord: i,
          user_id: f.userId,
          kind: f.kind,
          source: f.source,
          window_key: f.windowKey,
          window_start: f.windowStart.toISOString(),
          window_end: f.windowEnd.toISOString(),
          amount: f.amount,
          score: f.score,
          detail: f.detail,
        })) as never,
      )}) AS x(ord int, user_id bigint, kind text, source text, window_key text, window_start timestamptz, window_end timestamptz, amount bigint, score double precision, detail jsonb)
    ),
    covering AS (
      SELECT DISTINCT ON (x.ord) x.ord, f.id
        FROM x JOIN economy_flags f ON f.user_id = x.user_id AND f.kind = x.kind AND f.source = x.source AND f.status = 'open'
         AND (f.window_key = x.window_key OR (x.kind <> 'over_cap' AND f.window_start < x.window_end AND f.window_end > x.window_start))
       ORDER BY x.ord, f.window_end DESC, f.id DESC
    ),
    refreshed AS (
      UPDATE economy_flags f
         SET amount = x.amount, score = x.score, detail = x.detail, window_end = GREATEST(f.window_end, x.window_end), updated_at = now()
        FROM covering c JOIN x ON x.ord = c.ord
       WHERE f.id = c.id
      RETURNING f.*, false AS inserted
    ),
    written AS (
      INSERT INTO economy_flags (user_id, kind, source, window_key, window_start, window_end, amount, score, detail)
      SELECT x.user_id, x.kind, x.source, x.window_key, x.window_start, x.window_end, x.amount, x.score, x.detail
        FROM x WHERE NOT EXISTS (SELECT 1 FROM covering c WHERE c.ord = x.ord)
      ON CONFLICT ON CONSTRAINT economy_flags_once DO UPDATE
         SET amount = EXCLUDED.amount, score = EXCLUDED.score, detail = EXCLUDED.detail,
             window_end = EXCLUDED.window_end, updated_at = now()
      RETURNING *, (xmax = 0) AS inserted
    )
    SELECT * FROM written UNION ALL SELECT * FROM refreshed`;
  return { created: rows.filter((r) => r.inserted).map(toFlag), updated: rows.filter((r) => !r.inserted).length };
}

/** One writer of flags at a time, to the end of the caller's transaction (a late hourly run and the next one). */
export async function lockFlags(db: Queryable): Promise<void> {
  await db`SELECT pg_advisory_xact_lock(hashtext('economy_flags'))`;
}

export async function openFlags(db: Queryable, limit = 20): Promise<{ total: number; flags: FlagRow[] }> {
  const [count] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM economy_flags WHERE status = 'open'`;
  const rows = await db`SELECT * FROM economy_flags WHERE status = 'open' ORDER BY created_at DESC, id DESC LIMIT ${limit}`;
  return { total: count?.n ?? 0, flags: rows.map(toFlag) };
}

/** An admin closes a flag (looked at it, or rolled the grants back). Returns false when it was not open. */
export async function resolveFlag(db: Queryable, id: number, status: 'dismissed' | 'reverted', adminUserId: number): Promise<boolean> {
  const rows = await db`
    UPDATE economy_flags SET status = ${status}, resolved_by = ${adminUserId}, resolved_at = now(), updated_at = now()
     WHERE id = ${id} AND status = 'open' RETURNING id`;
  return rows.length > 0;
}
