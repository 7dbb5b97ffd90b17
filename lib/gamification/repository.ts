import type postgres from 'postgres';
import type { Queryable } from '../db/client.js';
import type { FactKind } from './catalogue.js';
import type { Fact } from './rules.js';

export type Tx = postgres.TransactionSql<{}>;

/** Lock class of gamification's per-user advisory locks ('gam'). */
const LOCK_CLASS = 0x67616d;

/**
 * Serialises a user's gamification work for the rest of the transaction: each event then sees the
 * facts of every event committed before it, so 50 concurrent events still unlock a threshold once.
 * Taken before any row lock, and nothing else takes it while holding one (no cycle).
 */
export async function lockUser(tx: Tx, userId: number): Promise<{ active: boolean; contentVersion: number | null }> {
  // The active content version rides along (no extra round trip): the catalogue is that version's.
  const [row] = await tx<{ active: boolean; content_version: string | null }[]>`
    SELECT pg_advisory_xact_lock(${LOCK_CLASS}, ${userId}::int) IS NOT NULL
           AND EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND deleted_at IS NULL) AS active,
           (SELECT version_id FROM content_active WHERE singleton) AS content_version`;
  return { active: Boolean(row?.active), contentVersion: row?.content_version == null ? null : Number(row.content_version) };
}

/** Inserts facts once per (kind, source); returns the ones that were new. */
export async function insertFacts(tx: Tx, userId: number, facts: Fact[]): Promise<Fact[]> {
  if (facts.length === 0) return [];
  const rows = facts.map((f) => ({ user_id: userId, kind: f.kind, source_id: f.sourceId, at: f.at, subject: f.subject, amount: f.amount }));
  const inserted: { kind: string; source_id: string }[] = await tx`
    INSERT INTO gamification_facts ${tx(rows as never, 'user_id', 'kind', 'source_id', 'at', 'subject', 'amount')}
    ON CONFLICT DO NOTHING RETURNING kind, source_id`;
  const fresh = new Set(inserted.map((r) => `${r.kind}\u0000${r.source_id}`));
  return facts.filter((f) => fresh.has(`${f.kind}\u0000${f.sourceId}`));
}

/** The user's facts of one kind, optionally within [from, to). */
export async function loadFacts(db: Queryable, userId: number, kind: FactKind, from: Date | null = null, to: Date | null = null): Promise<Fact[]> {
  const rows = await db<{ source_id: string; at: Date; subject: string | null; amount: string | number }[]>`
    SELECT source_id, at, subject, amount FROM gamification_facts
     WHERE user_id = ${userId} AND kind = ${kind}
       AND (${from}::timestamptz IS NULL OR at >= ${from}) AND (${to}::timestamptz IS NULL OR at < ${to})`;
  return rows.map((r) => ({ kind, sourceId: r.source_id, at: new Date(r.at), subject: r.subject, amount: Number(r.amount) }));
}

/** What the subscriber knows of a user once it holds the user's lock (one statement, see loadSnapshot). */
export interface Snapshot {
  /** false: the user was erased (/borrar); nothing was stored. */
  active: boolean;
  /** Facts of the event not stored before (a replayed or duplicated event has none). */
  fresh: Fact[];
  /** The user's facts of the event's kinds, the fresh ones included. */
  facts: Map<FactKind, Fact[]>;
  achievements: Map<string, { progress: number; unlocked: boolean }>;
  /** By `${mission_key}\u0000${period}`, for the periods the event's facts fall in. */
  missions: Map<string, { status: 'active' | 'completed'; progress: number }>;
  /** Someone invited the user and is not paid yet: only then does a played event look at referrals. */
  referralPending: boolean;
}

export const missionSlot = (key: string, period: string) => `${key}\u0000${period}`;

/**
 * Stores the event's facts once and reads, in the same statement, everything evaluating them needs:
 * the user's facts of those kinds, achievements, and missions of the periods concerned. Sent right
 * behind lockUser (pipelined: one round trip), it starts only once the lock is granted, so it sees
 * every event of this user committed before. Nothing is stored for an erased user.
 * The rows it inserts are not visible to its own reads (one snapshot): they are added in memory.
 */
export async function loadSnapshot(tx: Tx, userId: number, facts: Fact[], periods: string[]): Promise<Snapshot> {
  const kinds = [...new Set(facts.map((f) => f.kind))];
  const [row] = await tx<{ active: boolean; fresh: [string, string][]; facts: [FactKind, string, string, string | null, number][]; achievements: [string, number, boolean][]; missions: [string, string, 'active' | 'completed', number][]; referral_pending: boolean }[]>`
    WITH u AS (SELECT EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND deleted_at IS NULL) AS active),
    ins AS (
      INSERT INTO gamification_facts (user_id, kind, source_id, at, subject, amount)
      SELECT ${userId}, f.kind, f.source_id, f.at, f.subject, f.amount
        FROM unnest(${facts.map((f) => f.kind)}::text[], ${facts.map((f) => f.sourceId)}::text[], ${facts.map((f) => f.at.toISOString())}::timestamptz[],
                    ${facts.map((f) => f.subject) as string[]}::text[], ${facts.map((f) => f.amount)}::bigint[]) AS f(kind, source_id, at, subject, amount)
       WHERE (SELECT active FROM u)
      ON CONFLICT DO NOTHING RETURNING kind, source_id)
    SELECT (SELECT active FROM u) AS active,
      (SELECT COALESCE(json_agg(json_build_array(kind, source_id)), '[]') FROM ins) AS fresh,
      (SELECT COALESCE(json_agg(json_build_array(kind, source_id, at, subject, amount)), '[]')
         FROM gamification_facts WHERE user_id = ${userId} AND kind = ANY(${kinds}::text[])) AS facts,
      (SELECT COALESCE(json_agg(json_build_array(achievement_key, progress, unlocked_at IS NOT NULL)), '[]')
         FROM user_achievements WHERE user_id = ${userId}) AS achievements,
      (SELECT COALESCE(json_agg(json_build_array(mission_key, period, status, progress)), '[]')
         FROM user_missions WHERE user_id = ${userId} AND period = ANY(${periods}::text[])) AS missions,
      EXISTS (SELECT 1 FROM referrals WHERE referee_id = ${userId} AND status = 'pending') AS referral_pending`;
  const freshKeys = new Set(row!.fresh.map(([k, s]) => `${k}\u0000${s}`));
  const fresh = facts.filter((f) => freshKeys.has(`${f.kind}\u0000${f.sourceId}`));
  const byKind = new Map<FactKind, Fact[]>(kinds.map((k) => [k, []]));
  for (const [kind, sourceId, at, subject, amount] of row!.facts) byKind.get(kind)!.push({ kind, sourceId, at: new Date(at), subject, amount: Number(amount) });
  for (const f of fresh) byKind.get(f.kind)!.push(f);
  return {
    active: row!.active,
    fresh,
    facts: byKind,
    achievements: new Map(row!.achievements.map(([k, progress, unlocked]) => [k, { progress: Number(progress), unlocked }])),
    missions: new Map(row!.missions.map(([k, period, status, progress]) => [missionSlot(k, period), { status, progress: Number(progress) }])),
    referralPending: row!.referral_pending,
  };
}

export interface UserMissionRow {
  mission_key: string;
  period: string;
  status: 'active' | 'completed';
  progress: number;
  target: number;
  expires_at: Date | null;
  reward_besitos: number;
  assigned_at: Date;
  completed_at: Date | null;
}

export async function userMissions(db: Queryable, userId: number, periods: { key: string; period: string }[]): Promise<UserMissionRow[]> {
  if (periods.length === 0) return [];
  return db<UserMissionRow[]>`
    SELECT mission_key, period, status, progress, target, expires_at, reward_besitos, assigned_at, completed_at
      FROM user_missions
     WHERE user_id = ${userId}
       AND (mission_key, period) IN (SELECT * FROM unnest(${periods.map((p) => p.key)}::text[], ${periods.map((p) => p.period)}::text[]))`;
}

export interface UserAchievementRow {
  achievement_key: string;
  progress: number;
  target: number;
  unlocked_at: Date | null;
  reward_besitos: number;
}

export async function userAchievements(db: Queryable, userId: number): Promise<Map<string, UserAchievementRow>> {
  const rows = await db<UserAchievementRow[]>`
    SELECT achievement_key, progress, target, unlocked_at, reward_besitos FROM user_achievements WHERE user_id = ${userId}`;
  return new Map(rows.map((r) => [r.achievement_key, r]));
}

/**
 * Adds units to the inventory once per idempotency key; returns false on a replay. One statement: the
 * subscriber sends it with its COMMIT (lib/db/transaction.ts withPipelinedTransaction), where a second
 * statement issued after the first's answer would arrive after the transaction ended.
 */
export async function addItems(
  tx: Tx,
  p: { userId: number; itemKey: string; quantity: number; kind: 'purchase' | 'reward' | 'auction'; price?: number; idempotencyKey: string; now: Date },
): Promise<boolean> {
  const bought = p.kind === 'purchase' ? p.quantity : 0;
  const [row] = await tx<{ added: boolean }[]>`
    WITH move AS (
      INSERT INTO item_moves (user_id, item_key, kind, quantity, price, idempotency_key, created_at)
      VALUES (${p.userId}, ${p.itemKey}, ${p.kind}, ${p.quantity}, ${p.price ?? 0}, ${p.idempotencyKey}, ${p.now})
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
    ), inventory AS (
      INSERT INTO user_inventory AS i (user_id, item_key, quantity, bought, acquired_at, updated_at)
      SELECT ${p.userId}, ${p.itemKey}, ${p.quantity}, ${bought}, ${p.now}, ${p.now} FROM move
      ON CONFLICT (user_id, item_key) DO UPDATE
         SET quantity = i.quantity + excluded.quantity, bought = i.bought + excluded.bought, updated_at = excluded.updated_at
      RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM move) AS added`;
  return Boolean(row?.added);
}

export async function giftReceiverOf(tx: Queryable, transactionId: number): Promise<number | null> {
  const [row] = await tx<{ counterparty_id: number | null }[]>`SELECT counterparty_id FROM transactions WHERE id = ${transactionId}`;
  return row?.counterparty_id == null ? null : Number(row.counterparty_id);
}

/** What the story's conditions need to know of a user's gamification state (ConditionState items / achievements). */
export interface Holdings {
  /** Item key → units owned (> 0). */
  items: Map<string, number>;
  /** Achievements unlocked. */
  achievements: Set<string>;
  /** Fragments opened by a narrative key the user used (item effect unlock_fragment). */
  opened: Set<string>;
}

/**
 * Columns to add to a statement the caller already runs for `userId` (the story move's lock read, the
 * progress read of /historia and /niveles): the snapshot costs no round trip of its own.
 * Read back with readHoldings.
 */
export function holdingsColumns(sql: Queryable, userId: number) {
  return sql`
    (SELECT COALESCE(json_object_agg(item_key, quantity), '{}') FROM user_inventory WHERE user_id = ${userId} AND quantity > 0) AS gam_items,
    (SELECT COALESCE(array_agg(achievement_key), '{}') FROM user_achievements WHERE user_id = ${userId} AND unlocked_at IS NOT NULL) AS gam_achievements,
    (SELECT COALESCE(array_agg(DISTINCT detail->>'fragment'), '{}') FROM item_moves
      WHERE user_id = ${userId} AND kind = 'use' AND detail->>'kind' = 'unlock_fragment') AS gam_opened`;
}

export function readHoldings(row: { gam_items?: Record<string, number> | string | null; gam_achievements?: string[] | null; gam_opened?: string[] | null } | undefined): Holdings {
  const items = typeof row?.gam_items === 'string' ? (JSON.parse(row.gam_items) as Record<string, number>) : (row?.gam_items ?? {});
  return {
    items: new Map(Object.entries(items).map(([k, v]) => [k, Number(v)])),
    achievements: new Set(row?.gam_achievements ?? []),
    opened: new Set(row?.gam_opened ?? []),
  };
}

export interface MissionWrite {
  key: string;
  period: string;
  progress: number;
  target: number;
  expiresAt: Date | null;
  reward: number;
  complete: boolean;
}

export interface AchievementWrite {
  key: string;
  progress: number;
  target: number;
  reward: number;
  unlock: boolean;
}

/**
 * An event's mission and achievement rows in one statement (sent together with the event's outbox
 * rows); an empty list inserts nothing. The caller decided them under the user's lock from a fresh
 * snapshot; the guards (only active missions, only locked achievements change) hold anyway.
 */
export function writeProgress(tx: Tx, userId: number, missions: MissionWrite[], achievements: AchievementWrite[], now: Date): Promise<unknown>[] {
  if (missions.length === 0 && achievements.length === 0) return [];
  return [
    tx`
    WITH missions_written AS (
      INSERT INTO user_missions AS m (user_id, mission_key, period, status, progress, target, expires_at, reward_besitos, assigned_at, completed_at)
      SELECT ${userId}, w.key, w.period, CASE WHEN w.complete = 1 THEN 'completed' ELSE 'active' END, w.progress, w.target, w.expires_at, w.reward, ${now},
             CASE WHEN w.complete = 1 THEN ${now}::timestamptz END
        FROM unnest(${missions.map((w) => w.key)}::text[], ${missions.map((w) => w.period)}::text[], ${missions.map((w) => w.progress)}::int[],
                    ${missions.map((w) => w.target)}::int[], ${missions.map((w) => w.expiresAt?.toISOString() ?? null) as string[]}::timestamptz[],
                    ${missions.map((w) => w.reward)}::int[], ${missions.map((w) => (w.complete ? 1 : 0))}::int[])
             AS w(key, period, progress, target, expires_at, reward, complete)
      ON CONFLICT (user_id, mission_key, period) DO UPDATE
         SET progress = GREATEST(m.progress, excluded.progress), status = excluded.status, completed_at = excluded.completed_at, target = excluded.target
       WHERE m.status = 'active'),
    achievements_written AS (
      INSERT INTO user_achievements AS a (user_id, achievement_key, progress, target, unlocked_at, reward_besitos, updated_at)
      SELECT ${userId}, w.key, w.progress, w.target, CASE WHEN w.unlock = 1 THEN ${now}::timestamptz END, w.reward, ${now}
        FROM unnest(${achievements.map((w) => w.key)}::text[], ${achievements.map((w) => w.progress)}::int[], ${achievements.map((w) => w.target)}::int[],
                    ${achievements.map((w) => w.reward)}::int[], ${achievements.map((w) => (w.unlock ? 1 : 0))}::int[]) AS w(key, progress, target, reward, unlock)
      ON CONFLICT (user_id, achievement_key) DO UPDATE
         SET progress = GREATEST(a.progress, excluded.progress), target = excluded.target,
             unlocked_at = excluded.unlocked_at, reward_besitos = excluded.reward_besitos, updated_at = excluded.updated_at
       WHERE a.unlocked_at IS NULL)
    SELECT 1`,
  ];
}
