import { z } from 'zod';
import { lazy } from '../lazy.js';
import { conditionSchema, type Condition } from '../conditions/index.js';
import { achievementSchema, crossCheckCatalogue, itemSchema, missionSchema } from './gamification.js';

/**
 * Content model v2: one schema for every store (files, Postgres JSONB, MongoDB). Field names follow
 * the seed (§2.3 narrative_levels / narrative_fragments / narrative_content / trivia_questions) in
 * our words. Whatever can be checked on one item is checked here; references between items are
 * checked by `crossCheck` (and, more deeply, by the story linter, lib/content/lint.ts).
 */

export const keySchema = lazy(() => z.string().regex(/^[a-z0-9][a-z0-9_-]{0,47}$/, 'keys are lowercase letters, digits, _ and -, at most 48 chars'));
export const flagSchema = lazy(() => z.string().regex(/^[a-z0-9_:.-]{1,48}$/, 'flags are short lowercase names'));
/** Telegram HTML (<b>, <i>, <u>, <s>, <a>, <code>, <pre>, <blockquote>, <tg-spoiler>); at most one message. */
const html = lazy(() => z.string().min(1).max(4096));

/** What completing something grants. Items and achievements are applied by gamification once it exists; until then they are validated and recorded. */
export const rewardsSchema = lazy(() => z.strictObject({
  besitos: z.number().int().min(0).max(10_000).default(0),
  items: z.array(keySchema).max(10).default([]),
  achievements: z.array(keySchema).max(10).default([]),
}));
const rewards = lazy(() => rewardsSchema.default({ besitos: 0, items: [], achievements: [] }));

/** Photo / animation / video, by https URL (the linter refuses http) or by a Telegram file_id. */
export const mediaSchema = lazy(() => z
  .strictObject({
    type: z.enum(['photo', 'animation', 'video']),
    url: z.url().optional(),
    file_id: z.string().min(10).max(200).optional(),
    /** Caption sent with the media (Telegram limit 1024); the fragment text follows as its own message. */
    caption: z.string().min(1).max(1024).optional(),
  })
  .refine((m) => Boolean(m.url) !== Boolean(m.file_id), 'media needs exactly one of url or file_id'));

export const decisionSchema = lazy(() => z.strictObject({
  key: keySchema,
  /** Button text (Telegram shows about 64 characters). */
  label: z.string().min(1).max(64),
  /** Shown only when this holds. */
  show: conditionSchema.optional(),
  /** Where the choice leads. */
  next: keySchema,
  flags: z.strictObject({ set: z.array(flagSchema).default([]), clear: z.array(flagSchema).default([]) }).default({ set: [], clear: [] }),
  /** Granted when the choice is made. */
  rewards,
  /** true: the choice can be taken only once per user. */
  once: z.boolean().default(false),
}));

/** A riddle answered in text; the answer is compared after `normalizeAnswer`. */
export const riddleSchema = lazy(() => z.strictObject({
  kind: z.literal('riddle'),
  question: html,
  answers: z.array(z.string().min(1).max(100)).min(1).max(10),
  hint: z.string().min(1).max(300).optional(),
  /** Wrong answers allowed before `failure` applies (absent: unlimited tries). */
  attempts: z.number().int().min(1).max(10).optional(),
  success: z.strictObject({ next: keySchema, rewards }),
  failure: z.strictObject({ next: keySchema, rewards }).optional(),
}));

/** A Telegram dice throw (sendDice): the value picks the branch. Branches must cover 1..max of the emoji. */
export const diceSchema = lazy(() => z.strictObject({
  kind: z.literal('dice'),
  emoji: z.enum(['🎲', '🎯', '🏀', '⚽', '🎳', '🎰']).default('🎲'),
  prompt: z.string().min(1).max(300).optional(),
  branches: z
    .array(z.strictObject({ min: z.number().int().min(1).max(64), max: z.number().int().min(1).max(64), next: keySchema, rewards }))
    .min(1)
    .max(8),
}));

export const miniGameSchema = lazy(() => z.discriminatedUnion('kind', [riddleSchema, diceSchema]));

/** The highest value Telegram's sendDice gives for each emoji. */
export const DICE_MAX: Record<z.output<typeof diceSchema>['emoji'], number> = { '🎲': 6, '🎯': 6, '🏀': 5, '⚽': 5, '🎳': 6, '🎰': 64 };

export const fragmentSchema = lazy(() => z.strictObject({
  key: keySchema,
  level: z.number().int().min(1).max(100),
  title: z.string().min(1).max(120),
  /** Who speaks: "Diana", "Lucien", "Narrador" … (shown above the text). */
  narrator: z.string().min(1).max(40),
  text: html,
  media: mediaSchema.optional(),
  type: z.enum(['story', 'decision', 'mini_game']).default('story'),
  unlock: conditionSchema.optional(),
  /** Granted once, when the fragment is completed. */
  rewards,
  secret: z.boolean().default(false),
  /** An ending: the story may stop here (no way on is expected). */
  ending: z.boolean().default(false),
  /** story: the fragment continues to `next` (a "Continuar" button). */
  next: keySchema.optional(),
  /** decision: the choices (at most 8 buttons). */
  decisions: z.array(decisionSchema).max(8).default([]),
  /** mini_game: the game that decides the way on. */
  game: miniGameSchema.optional(),
}));

export const levelSchema = lazy(() => z.strictObject({
  number: z.number().int().min(1).max(100),
  title: z.string().min(1).max(120),
  vip: z.boolean().default(false),
  unlock: conditionSchema.optional(),
  /** Telegram HTML shown when the user enters the level. */
  intro: html,
}));

export const triviaSchema = lazy(() => z.strictObject({
  key: keySchema,
  question: z.string().min(1).max(300),
  options: z.array(z.string().min(1).max(100)).min(2).max(6),
  /** The correct option, as written in `options`. */
  answer: z.string().min(1).max(100),
  difficulty: z.enum(['facil', 'media', 'dificil']).default('media'),
  rewards: z.strictObject({ correct: rewards, incorrect: rewards }),
  timeLimitSeconds: z.number().int().min(5).max(600).default(30),
  /** The question becomes available once this fragment is completed (absent: from the start). */
  availableAfter: keySchema.optional(),
}));

export const contentSchema = lazy(() => z.strictObject({
  /** The first fragment of the story. */
  start: keySchema,
  levels: z.array(levelSchema).min(1),
  fragments: z.array(fragmentSchema).min(1),
  trivia: z.array(triviaSchema).default([]),
  /** Gamification sections (lib/content/gamification.ts): content/gamification/*.json. */
  missions: z.array(missionSchema).default([]),
  achievements: z.array(achievementSchema).default([]),
  items: z.array(itemSchema).default([]),
}));

export type Rewards = z.output<typeof rewardsSchema>;
export type Media = z.output<typeof mediaSchema>;
export type Decision = z.output<typeof decisionSchema>;
export type Riddle = z.output<typeof riddleSchema>;
export type Dice = z.output<typeof diceSchema>;
export type MiniGame = z.output<typeof miniGameSchema>;
export type Fragment = z.output<typeof fragmentSchema>;
export type Level = z.output<typeof levelSchema>;
export type Trivia = z.output<typeof triviaSchema>;
export type Content = z.output<typeof contentSchema>;
export type { Condition };

/**
 * How a typed riddle answer is compared: lower case, accents and other diacritics removed (ñ too:
 * phones type "n" as often), punctuation dropped, runs of spaces collapsed, trimmed.
 * Input is cut to 200 characters first, so a 4,096-character message costs nothing.
 */
export function normalizeAnswer(s: string): string {
  return s
    .slice(0, 200)
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Whether a typed answer matches one of the riddle's answers after normalisation. */
export function riddleMatches(riddle: Pick<Riddle, 'answers'>, typed: string): boolean {
  const t = normalizeAnswer(typed);
  return t.length > 0 && riddle.answers.some((a) => normalizeAnswer(a) === t);
}

const ALLOWED_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'a', 'code', 'pre', 'blockquote', 'tg-spoiler', 'span']);

/** Where a fragment can lead: decisions, `next`, game branches. */
export function fragmentTargets(f: Fragment): string[] {
  const out = f.decisions.map((d) => d.next);
  if (f.next) out.push(f.next);
  if (f.game?.kind === 'riddle') {
    out.push(f.game.success.next);
    if (f.game.failure) out.push(f.game.failure.next);
  }
  if (f.game?.kind === 'dice') out.push(...f.game.branches.map((b) => b.next));
  return out;
}

/** A problem found in content: where (item key) and what. */
export interface ContentProblem {
  where: string;
  message: string;
}

/**
 * Checks what a schema cannot: unique keys, references between items (next links, levels,
 * available_after), Telegram-safe HTML, the shape each fragment type needs. These are errors the bot
 * cannot run with; the linter adds the story-level checks (reachability, dead ends, economy).
 */
export function crossCheck(c: Content): ContentProblem[] {
  const problems: ContentProblem[] = [];
  const add = (where: string, message: string) => problems.push({ where, message });
  const levels = new Set<number>();
  for (const l of c.levels) {
    if (levels.has(l.number)) add(`level ${l.number}`, 'is defined twice');
    levels.add(l.number);
  }
  const keys = new Set<string>();
  for (const f of c.fragments) {
    if (keys.has(f.key)) add(`fragment ${f.key}`, 'is defined twice');
    keys.add(f.key);
  }
  if (!keys.has(c.start)) add('start', `start fragment "${c.start}" does not exist`);
  for (const f of c.fragments) {
    const where = `fragment ${f.key}`;
    if (!levels.has(f.level)) add(where, `level ${f.level} does not exist`);
    const decisionKeys = new Set<string>();
    for (const d of f.decisions) {
      if (decisionKeys.has(d.key)) add(`${where} decision ${d.key}`, 'is defined twice');
      decisionKeys.add(d.key);
      if (!keys.has(d.next)) add(`${where} decision ${d.key}`, `next fragment "${d.next}" does not exist`);
    }
    if (f.next && !keys.has(f.next)) add(where, `next fragment "${f.next}" does not exist`);
    if (f.game) for (const t of fragmentTargets({ ...f, decisions: [], next: undefined })) if (!keys.has(t)) add(`${where} game`, `next fragment "${t}" does not exist`);
    if (f.type === 'decision' && f.decisions.length === 0) add(where, 'a decision fragment needs decisions');
    if (f.type === 'mini_game' && !f.game) add(where, 'a mini_game fragment needs a game');
    if (f.type !== 'mini_game' && f.game) add(where, `a ${f.type} fragment cannot have a game (type it mini_game)`);
    if (f.type !== 'decision' && f.decisions.length) add(where, `a ${f.type} fragment cannot have decisions (type it decision)`);
    if (f.type !== 'story' && f.next) add(where, `"next" is for story fragments; a ${f.type} fragment leads on through its ${f.type === 'decision' ? 'decisions' : 'game'}`);
    if (f.game?.kind === 'dice') {
      const max = DICE_MAX[f.game.emoji];
      for (let v = 1; v <= max; v++) {
        const n = f.game.branches.filter((b) => b.min <= v && v <= b.max).length;
        if (n !== 1) add(`${where} game`, `dice value ${v} matches ${n} branches (each of 1..${max} needs exactly one)`);
      }
    }
    for (const [, tag] of f.text.matchAll(/<\/?([a-z-]+)[^>]*>/gi)) {
      if (!ALLOWED_TAGS.has(tag!.toLowerCase())) add(where, `tag <${tag}> is not allowed by Telegram HTML`);
    }
  }
  const trivia = new Set<string>();
  for (const t of c.trivia) {
    const where = `trivia ${t.key}`;
    if (trivia.has(t.key)) add(where, 'is defined twice');
    trivia.add(t.key);
    if (!t.options.includes(t.answer)) add(where, `answer "${t.answer}" is not one of its options`);
    if (new Set(t.options).size !== t.options.length) add(where, 'has the same option twice');
    if (t.availableAfter && !keys.has(t.availableAfter)) add(where, `available_after fragment "${t.availableAfter}" does not exist`);
  }
  for (const p of crossCheckCatalogue(c)) add(p.path.slice(0, 2).join(' '), p.message);
  const items = new Set(c.items.map((i) => i.key));
  const auctionOnly = new Set(c.items.filter((i) => i.auction_only).map((i) => i.key));
  const achievements = new Set(c.achievements.map((a) => a.key));
  for (const i of c.items)
    if (i.effect?.kind === 'unlock_fragment' && !keys.has(i.effect.fragment)) add(`item ${i.key}`, `opens fragment "${i.effect.fragment}", which does not exist`);
  for (const f of c.fragments) {
    for (const r of [f.rewards, ...f.decisions.map((d) => d.rewards)]) {
      for (const i of r.items) if (!items.has(i)) add(`fragment ${f.key}`, `rewards item "${i}", which is not in content/gamification`);
      for (const i of r.items) if (auctionOnly.has(i)) add(`fragment ${f.key}`, `rewards item "${i}", which is auction-only`);
      for (const a of r.achievements) if (!achievements.has(a)) add(`fragment ${f.key}`, `rewards achievement "${a}", which is not in content/gamification`);
    }
  }
  return problems;
}

export class InvalidContent extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid content in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InvalidContent';
  }
}

/** Schema problems with their path, e.g. `fragments.3.decisions.0.next: …`. */
export function schemaProblems(raw: unknown): { content?: Content; problems: ContentProblem[] } {
  const parsed = contentSchema.safeParse(raw);
  if (parsed.success) return { content: parsed.data, problems: [] };
  return { problems: parsed.error.issues.map((i) => ({ where: i.path.join('.') || '(root)', message: i.message })) };
}

/** Parses and cross-checks content; throws InvalidContent listing every problem. */
export function parseContent(raw: unknown, source: string): Content {
  const { content, problems } = schemaProblems(raw);
  const all = content ? crossCheck(content) : problems;
  if (all.length) throw new InvalidContent(source, all.map((p) => `${p.where}: ${p.message}`));
  return content!;
}
