import { z } from 'zod';
import { lazy } from '../lazy.js';
import { createEvent } from '../bus/events.js';
import { publish } from '../bus/outbox.js';
import { grantBesitos } from '../besitos/ledger.js';
import { AlreadyRewarded, CapReached } from '../besitos/errors.js';
import { alreadyRewardedText } from '../besitos/first-time.js';
import { capReachedText, economyTimeZone } from '../besitos/policy.js';
import { defineCommand, runCommand, type RunResult } from '../commands/index.js';
import type { ContentIndex } from '../content/store.js';
import type { ContentCache } from '../content/versions.js';
import type { Queryable } from '../db/client.js';
import {
  availableTrivia,
  decide,
  isRefusal,
  judgeTrivia,
  levelMap,
  type Action,
  type LevelEntry,
  type Player,
  type Progress,
  type Refusal,
  type Screen,
} from './rules.js';
import { catalogueOf, triviaMultiplier } from '../gamification/index.js';
import { applyMove, loadProgress, loadProgressAndHoldings, lockForMove, lockTrivia, recordTriviaAsked, saveTriviaAnswer } from './repository.js';

export * from './rules.js';
export { loadProgress, STORY_SOURCE } from './repository.js';

/** Where the engine gets the active content version (cached by the instance). */
export interface StoryContent {
  /**
   * The content of the active version. `activeVersionId` is what the update's state load read
   * (UserState.contentVersion): with it an unchanged version costs no round trip; without it the
   * active pointer is read first.
   */
  current(activeVersionId?: number | null): Promise<ContentIndex>;
}

/** The published versions (lib/content: Postgres JSONB or MongoDB), through the instance's cache. */
export function versionedStoryContent(cache: () => Promise<ContentCache>): StoryContent {
  return {
    async current(activeVersionId) {
      const c = await cache();
      return activeVersionId === undefined ? c.active() : c.forVersion(activeVersionId);
    },
  };
}

/** One fixed content, read once (tests, benchmarks); a failed read is retried on next use. */
export function cachedStoryContent(load: () => Promise<ContentIndex>): StoryContent {
  let current: Promise<ContentIndex> | undefined;
  return {
    current() {
      current ??= load().catch((err) => {
        current = undefined;
        throw err;
      });
      return current;
    },
  };
}

/** A move the engine refused: nothing changed (the bot answers with a short notice). */
export class StoryRefused extends Error {
  constructor(readonly refusal: Refusal) {
    super(`story move refused: ${refusal.refused}`);
    this.name = 'StoryRefused';
  }
}

const via = lazy(() => z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('decision'), index: z.number().int().min(0).max(7) }),
  z.object({ kind: z.literal('continue') }),
]));
const versionTag = lazy(() => z.string().min(1).max(64));
const step = lazy(() => z.number().int().min(0));
export const actionSchema: z.ZodType<Action> = lazy(() => z.discriminatedUnion('type', [
  z.object({ type: z.literal('open') }),
  z.object({ type: z.literal('press'), version: versionTag, step, via }),
  z.object({ type: z.literal('unlock'), version: versionTag, step, via }),
  z.object({ type: z.literal('riddle'), text: z.string().max(4096) }),
  z.object({ type: z.literal('dice'), version: versionTag, step, value: z.number().int().min(1).max(64) }),
]));

export interface StoryResult {
  screen: Screen;
  /** For /actividad: what the user did, in Spanish. */
  label: string;
  balance: number | null;
  /** A reward of this move refused by the story's cap (lib/besitos/policy.ts), in Spanish. */
  capped?: string;
}

/**
 * Version tags on buttons are a prefix of the content hash (64 bytes of callback data are scarce):
 * the engine compares the full hash, so a prefix is expanded against the active version here.
 */
function expand(content: ContentIndex, a: Action): Action {
  if ('version' in a && content.version.hash.startsWith(a.version)) return { ...a, version: content.version.hash };
  return a;
}

function labelOf(content: ContentIndex, before: Progress | null, a: Action): string {
  const f = before?.current ? content.fragment(before.current) : null;
  switch (a.type) {
    case 'open':
      return before?.current ? 'Historia: continuar' : 'Historia: comenzar';
    case 'press':
    case 'unlock': {
      const pay = a.type === 'unlock' ? ' (desbloqueo)' : '';
      if (a.via.kind === 'continue') return `Historia: continuar${pay}`;
      const d = f?.decisions[a.via.index];
      return `Historia: «${d?.label ?? 'decisión'}»${pay}`;
    }
    case 'riddle':
      return `Historia: respuesta al acertijo`;
    case 'dice':
      return `Historia: dados (${a.value})`;
  }
}

/**
 * Every story move as a command (lib/commands): the action row, the progress, the rewards and the
 * events commit together; its key comes from the update, so a redelivered update replays the first
 * outcome. The user's row is locked first, so concurrent presses run one after the other and the
 * second finds the step moved (refused, rolled back, no action row).
 */
export function storyCommand(content: ContentIndex, timeZone = 'UTC') {
  return defineCommand<Action, StoryResult>({
    name: 'story',
    params: actionSchema,
    async execute({ tx, userId, now }, action) {
      const { progress, player, erased } = await lockForMove(tx, userId);
      // /borrar won the race: nothing is written for an erased account.
      if (erased) throw new StoryRefused({ refused: 'not_started' });
      const a = expand(content, action);
      const outcome = decide(content, progress, player, a);
      if (isRefusal(outcome)) throw new StoryRefused(outcome);
      const { balance, capped } = await applyMove(tx, userId, outcome.progress, outcome.effects, now, { catalogue: catalogueOf(content), timeZone });
      return { screen: outcome.screen, label: labelOf(content, progress, a), balance, ...(capped ? { capped } : {}) };
    },
  });
}

export interface MoveOptions {
  userId: number;
  /** From the update (update:<id>:story). */
  idempotencyKey: string;
  action: Action;
  now: Date;
  /** BOT_TIMEZONE (achievements a story reward unlocks may count days). */
  timeZone?: string;
}

/** Runs a story move. Throws StoryRefused (nothing changed) or InsufficientFunds (premium, nothing moved). */
export function playStory(db: Queryable, content: ContentIndex, o: MoveOptions): Promise<RunResult<StoryResult>> {
  return runCommand(db, storyCommand(content, o.timeZone), { userId: o.userId, idempotencyKey: o.idempotencyKey, params: o.action, now: o.now });
}

/**
 * What /historia shows without moving: the current screen when nothing would change (no command,
 * nothing written), else null — the caller then runs the `open` move (start, or relocation).
 */
export async function peekStory(db: Queryable, content: ContentIndex, userId: number, player: Player): Promise<Screen | null> {
  const { progress, holdings } = await loadProgressAndHoldings(db, userId);
  player = { ...player, ...holdings };
  if (!progress || progress.current === null || progress.version !== content.version.hash) return null;
  const o = decide(content, progress, player, { type: 'open' });
  return isRefusal(o) ? null : o.screen;
}

export async function storyLevels(db: Queryable, content: ContentIndex, userId: number, player: Player): Promise<LevelEntry[]> {
  const { progress, holdings } = await loadProgressAndHoldings(db, userId);
  return levelMap(content, progress, { ...player, ...holdings });
}

// ---- trivia ----

export interface TriviaOffer {
  key: string;
  question: string;
  options: string[];
  timeLimitSeconds: number;
  difficulty: string;
  askedAt: Date;
}

/** The next question the user has not answered yet, with its clock started (server side). */
export async function nextTrivia(db: Queryable, content: ContentIndex, userId: number, now: Date): Promise<TriviaOffer | null> {
  const progress = await loadProgress(db, userId);
  const answered = new Set(
    (await db<{ trivia_key: string }[]>`SELECT trivia_key FROM narrative_trivia_answers WHERE user_id = ${userId} AND answered_at IS NOT NULL`).map((r) => r.trivia_key),
  );
  const t = availableTrivia(content, progress).find((x) => !answered.has(x.key));
  if (!t) return null;
  const row = await recordTriviaAsked(db, userId, t.key, content.version.hash, now);
  return { key: t.key, question: t.question, options: t.options, timeLimitSeconds: t.timeLimitSeconds, difficulty: t.difficulty, askedAt: new Date(row.asked_at) };
}

export type TriviaAnswerResult =
  | { kind: 'answered'; correct: boolean; late: boolean; reward: number; answer: string; balance: number | null; capped?: string | null }
  | { kind: 'already'; correct: boolean | null }
  | { kind: 'unknown' };

/**
 * Answers a question as a command: once per user and question (the row is locked; a second answer
 * finds it answered), late answers (after the limit, measured from when it was sent) get nothing.
 */
export function triviaCommand(content: ContentIndex) {
  return defineCommand<{ key: string; option: number }, TriviaAnswerResult & { label: string }>({
    name: 'trivia',
    params: z.object({ key: z.string().min(1).max(48), option: z.number().int().min(0).max(5) }),
    async execute({ tx, userId, now }, p) {
      const t = content.triviaQuestion(p.key);
      const row = await lockTrivia(tx, userId, p.key);
      if (!t || !row || p.option >= t.options.length) throw new StoryRefused({ refused: 'unavailable' });
      if (row.answered_at) throw new StoryRefused({ refused: 'stale' });
      const v = judgeTrivia(t, p.option, new Date(row.asked_at), now);
      // A trivia power-up in force (gamification: item effect trivia_multiplier) multiplies the reward.
      const base = v.rewards?.besitos ?? 0;
      const multiplier = base > 0 ? await triviaMultiplier(tx, userId, now) : 1;
      let balance: number | null = null;
      let reward = base * multiplier;
      let capped: string | null = null;
      if (reward > 0) {
        try {
          const r = await grantBesitos(tx, {
            userId,
            amount: reward,
            source: 'trivia',
            idempotencyKey: `story:${userId}:trivia:${t.key}`,
            // Once per person: the same question answered again by a later account of theirs pays nothing.
            firstTime: `trivia:${t.key}`,
            description: `Trivia: ${t.question.slice(0, 80)}${multiplier > 1 ? ` (×${multiplier})` : ''}`,
            metadata: multiplier > 1 ? { base, multiplier } : {},
            now,
          });
          balance = r.entry.balanceAfter;
        } catch (err) {
          // Over the trivia cap (lib/besitos/policy.ts), or paid to an earlier account of the person: the answer counts, the besitos don't.
          if (err instanceof AlreadyRewarded) capped = alreadyRewardedText();
          else if (!(err instanceof CapReached)) throw err;
          else capped = capReachedText(err, economyTimeZone(), now);
          reward = 0;
        }
      }
      await saveTriviaAnswer(tx, userId, { key: t.key, option: p.option, correct: v.correct, late: v.late, reward, now });
      await publish(
        tx,
        createEvent('gamification.trivia_answered', { trivia_key: t.key, correct: v.correct, reward_besitos: reward, response_ms: v.responseMs }, userId, now),
      );
      return { kind: 'answered', correct: v.correct, late: v.late, reward, answer: t.answer, balance, capped, label: `Trivia: ${v.correct ? 'acierto' : 'fallo'}${v.late ? ' (tarde)' : ''}` };
    },
  });
}

export function answerTrivia(db: Queryable, content: ContentIndex, o: { userId: number; idempotencyKey: string; key: string; option: number; now: Date }) {
  return runCommand(db, triviaCommand(content), { userId: o.userId, idempotencyKey: o.idempotencyKey, params: { key: o.key, option: o.option }, now: o.now });
}

