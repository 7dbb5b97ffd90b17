import type postgres from 'postgres';
import { createEvent } from '../bus/events.js';
import { publish } from '../bus/outbox.js';
import { grantBesitos, spendBesitos } from '../besitos/ledger.js';
import { AlreadyRewarded, CapReached } from '../besitos/errors.js';
import { alreadyRewardedText } from '../besitos/first-time.js';
import { capReachedText, economyTimeZone } from '../besitos/policy.js';
import type { Queryable } from '../db/client.js';
import { applyStoryRewards, holdingsColumns, readHoldings, type CatalogueIndex, type Holdings } from '../gamification/index.js';
import { newProgress, type Effect, type Player, type Progress } from './rules.js';

type Tx = postgres.TransactionSql<{}>;

/** Ledger source of every story reward and premium unlock. */
export const STORY_SOURCE = 'story';

export interface ProgressRow {
  content_version: string;
  current_fragment: string | null;
  current_level: number;
  step: number;
  state: Partial<Progress> | null;
}

export function toProgress(r: ProgressRow): Progress {
  return {
    ...newProgress(r.content_version),
    ...(r.state ?? {}),
    version: r.content_version,
    current: r.current_fragment,
    currentLevel: Number(r.current_level),
    step: Number(r.step),
  };
}

/**
 * The progress and the user's gamification snapshot (items, achievements, opened fragments) in one
 * statement: what /historia and /niveles evaluate conditions against.
 */
export async function loadProgressAndHoldings(db: Queryable, userId: number): Promise<{ progress: Progress | null; holdings: Holdings }> {
  const [row] = await db<(Partial<ProgressRow> & { has_progress: boolean })[]>`
    SELECT p.user_id IS NOT NULL AS has_progress, p.content_version, p.current_fragment, p.current_level, p.step, p.state,
           ${holdingsColumns(db, userId)}
      FROM (SELECT ${userId}::bigint AS id) u
      LEFT JOIN user_narrative_progress p ON p.user_id = u.id`;
  return { progress: row?.has_progress ? toProgress(row as ProgressRow) : null, holdings: readHoldings(row as never) };
}

/** The user's progress (null: never started). */
export async function loadProgress(db: Queryable, userId: number): Promise<Progress | null> {
  const [row] = await db<ProgressRow[]>`
    SELECT content_version, current_fragment, current_level, step, state FROM user_narrative_progress WHERE user_id = ${userId}`;
  return row ? toProgress(row) : null;
}

/**
 * Locks the user for this move, then reads the progress and what the engine needs to know about the
 * user. Two statements on purpose: under READ COMMITTED a statement that waited for the lock still
 * reads the other tables as of its start, so a press queued behind another would see the step before
 * the first moved it; the read after the lock sees what the first committed.
 * NO KEY UPDATE: the action row inserted just before holds a KEY SHARE lock on the user (its foreign
 * key); a plain FOR UPDATE would deadlock concurrent presses against each other.
 */
export async function lockForMove(tx: Tx, userId: number): Promise<{ progress: Progress | null; player: Player; erased: boolean }> {
  await tx`SELECT 1 FROM users WHERE id = ${userId} FOR NO KEY UPDATE`;
  const [row] = await tx<(ProgressRow & { status: string; besitos: number; has_progress: boolean; erased: boolean })[]>`
    SELECT u.status, u.deleted_at IS NOT NULL AS erased, COALESCE(b.besitos, 0) AS besitos, p.user_id IS NOT NULL AS has_progress,
           p.content_version, p.current_fragment, p.current_level, p.step, p.state,
           ${holdingsColumns(tx, userId)}
      FROM users u
      LEFT JOIN user_balances b ON b.user_id = u.id
      LEFT JOIN user_narrative_progress p ON p.user_id = u.id
     WHERE u.id = ${userId}`;
  if (!row) throw new Error(`user ${userId} not found`);
  const h = readHoldings(row as never);
  return {
    progress: row.has_progress ? toProgress(row) : null,
    player: { vip: row.status === 'vip', besitos: Number(row.besitos), items: h.items, achievements: h.achievements, opened: h.opened },
    erased: row.erased,
  };
}

async function saveProgress(tx: Tx, userId: number, p: Progress): Promise<void> {
  const { version, current, currentLevel, step, ...state } = p;
  await tx`
    INSERT INTO user_narrative_progress (user_id, content_version, current_fragment, current_level, step, state)
    VALUES (${userId}, ${version}, ${current}, ${currentLevel}, ${step}, ${tx.json(state as never)})
    ON CONFLICT (user_id) DO UPDATE SET
      content_version = excluded.content_version, current_fragment = excluded.current_fragment,
      current_level = excluded.current_level, step = excluded.step, state = excluded.state, updated_at = now()`;
}

/**
 * Applies a move in the caller's transaction: the progress, the rewards and premium payments
 * through the ledger (keys per user and rewarded thing, so nothing is granted or charged twice
 * whatever update carries it), and the events to the outbox. Returns the besitos balance after.
 */
export async function applyMove(
  tx: Tx,
  userId: number,
  progress: Progress,
  effects: Effect[],
  now: Date,
  gamification?: { catalogue: CatalogueIndex; timeZone: string },
): Promise<{ balance: number | null; capped: string | null }> {
  let balance: number | null = null;
  let capped: string | null = null;
  // Items and achievements the move grants go to gamification first: it takes the user's gamification
  // lock before anything here touches the balance (the subscriber's order: lock, then balance).
  if (gamification) {
    for (const e of effects)
      if (e.kind === 'grant' && (e.items.length || e.achievements.length))
        await applyStoryRewards(tx, { userId, reason: e.reason, items: e.items, achievements: e.achievements, catalogue: gamification.catalogue, timeZone: gamification.timeZone, now });
  }
  for (const e of effects) {
    if (e.kind === 'spend') {
      const r = await spendBesitos(tx, {
        userId,
        amount: e.amount,
        source: STORY_SOURCE,
        idempotencyKey: `story:${userId}:paid:${e.subject}`,
        description: e.description,
        metadata: { subject: e.subject },
      });
      balance = r.entry.balanceAfter;
    } else if (e.kind === 'grant' && e.amount > 0) {
      try {
        const r = await grantBesitos(tx, {
          userId,
          amount: e.amount,
          source: STORY_SOURCE,
          idempotencyKey: `story:${userId}:${e.reason}`,
          // Once per person: replaying the story on a later account (after /borrar) pays nothing again.
          firstTime: `story:${e.reason}`,
          description: e.description,
          metadata: e.items.length || e.achievements.length ? { items: e.items, achievements: e.achievements } : {},
          now,
          ...(gamification ? { timeZone: gamification.timeZone } : {}),
        });
        balance = r.entry.balanceAfter;
      } catch (err) {
        // Over the story's cap (lib/besitos/policy.ts), or paid to an earlier account of the person: the story goes on, unpaid.
        if (err instanceof AlreadyRewarded) capped = alreadyRewardedText();
        else if (!(err instanceof CapReached)) throw err;
        else capped = capReachedText(err, gamification?.timeZone ?? economyTimeZone(), now);
      }
    }
  }
  // Items and achievements: also recorded with the progress (what the story gave; gamification owns them).
  for (const e of effects) {
    if (e.kind !== 'grant') continue;
    progress.items = [...progress.items, ...e.items];
    progress.achievements = [...new Set([...progress.achievements, ...e.achievements])];
  }
  const events = effects.flatMap((e) => (e.kind === 'event' ? [createEvent(e.type, e.data as never, userId, now)] : []));
  if (events.length) await publish(tx, ...events);
  await saveProgress(tx, userId, progress);
  return { balance, capped };
}

// ---- trivia ----

export interface TriviaRow {
  trivia_key: string;
  asked_at: Date;
  answered_at: Date | null;
  correct: boolean | null;
  late: boolean | null;
  reward_besitos: number;
}

/** Records when a question was sent (first time only: asking again keeps the first clock). */
export async function recordTriviaAsked(db: Queryable, userId: number, key: string, version: string, now: Date): Promise<TriviaRow> {
  const [row] = await db<TriviaRow[]>`
    WITH ins AS (
      INSERT INTO narrative_trivia_answers (user_id, trivia_key, content_version, asked_at)
      SELECT ${userId}, ${key}, ${version}, ${now} FROM users WHERE id = ${userId} AND deleted_at IS NULL
      ON CONFLICT (user_id, trivia_key) DO NOTHING
      RETURNING trivia_key, asked_at, answered_at, correct, late, reward_besitos)
    SELECT * FROM ins
    UNION ALL
    SELECT trivia_key, asked_at, answered_at, correct, late, reward_besitos FROM narrative_trivia_answers
     WHERE user_id = ${userId} AND trivia_key = ${key} AND NOT EXISTS (SELECT 1 FROM ins)`;
  if (!row) throw new Error(`user ${userId} is erased`);
  return row;
}

export async function lockTrivia(tx: Tx, userId: number, key: string): Promise<TriviaRow | null> {
  const [row] = await tx<TriviaRow[]>`
    SELECT trivia_key, asked_at, answered_at, correct, late, reward_besitos FROM narrative_trivia_answers
     WHERE user_id = ${userId} AND trivia_key = ${key} FOR UPDATE`;
  return row ?? null;
}

export async function listTriviaAnswers(db: Queryable, userId: number): Promise<TriviaRow[]> {
  return db<TriviaRow[]>`
    SELECT trivia_key, asked_at, answered_at, correct, late, reward_besitos FROM narrative_trivia_answers
     WHERE user_id = ${userId} ORDER BY asked_at`;
}

export async function saveTriviaAnswer(
  tx: Tx,
  userId: number,
  a: { key: string; option: number; correct: boolean; late: boolean; reward: number; now: Date },
): Promise<void> {
  await tx`
    UPDATE narrative_trivia_answers
       SET answered_at = ${a.now}, option_index = ${a.option}, correct = ${a.correct}, late = ${a.late}, reward_besitos = ${a.reward}
     WHERE user_id = ${userId} AND trivia_key = ${a.key}`;
}

/** /borrar: the story progress and the trivia answers go. */
export async function eraseNarrative(tx: Tx, userId: number): Promise<void> {
  await tx`DELETE FROM user_narrative_progress WHERE user_id = ${userId}`;
  await tx`DELETE FROM narrative_trivia_answers WHERE user_id = ${userId}`;
}
