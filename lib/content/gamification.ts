import { z } from 'zod';
import { lazy } from '../lazy.js';

/**
 * The gamification catalogue (seed §2.3 missions, achievements, items): authored in
 * content/gamification/*.json beside the story and validated here. Kept in its own schema file so
 * that it can join the content model's versions as separate sections.
 */

export const gamificationKey = lazy(() => z.string().regex(/^[a-z0-9][a-z0-9_-]{0,47}$/, 'keys are lowercase letters, digits, _ and -, at most 48 chars'));
const instant = lazy(() => z.iso.datetime({ offset: true }));

/** What gamification learns from bus events (lib/gamification/rules.ts factsFromEvent). */
export const FACT_KINDS = [
  'fragment_completed',
  'level_completed',
  'secret_discovered',
  'daily_claimed',
  'trivia_answered',
  'trivia_correct',
  'item_purchased',
  'item_used',
  'gift_sent',
  'besitos_earned',
  'mission_completed',
] as const;
export type FactKind = (typeof FACT_KINDS)[number];

/**
 * A requirement over facts: `count` of them (default), `distinct` subjects (e.g. gift recipients),
 * `streak_days` consecutive local days, or the `sum` of their amounts; optionally only facts about
 * one `subject`, and (achievements) only within a window of `within_hours`.
 */
export const requirementSchema = lazy(() => z.strictObject({
  fact: z.enum(FACT_KINDS),
  count: z.number().int().min(1).max(1_000_000),
  measure: z.enum(['count', 'distinct', 'streak_days', 'sum']).default('count'),
  subject: z.string().min(1).max(128).optional(),
  within_hours: z.number().int().min(1).max(24 * 366).optional(),
}));
export type Requirement = z.output<typeof requirementSchema>;

export const MISSION_TYPES = ['daily', 'weekly', 'narrative', 'special'] as const;
/** Seed §4.1: daily missions give 20 besitos, weekly ones 50; narrative and special ones say theirs. */
export const DEFAULT_MISSION_REWARD = { daily: 20, weekly: 50 } as const;

export const missionSchema = lazy(() => z
  .strictObject({
    key: gamificationKey,
    title: z.string().min(1).max(80),
    description: z.string().min(1).max(300),
    type: z.enum(MISSION_TYPES),
    requirement: requirementSchema,
    /** once: one period for ever; daily: from local midnight (BOT_TIMEZONE); weekly: from Monday's. */
    recurrence: z.enum(['once', 'daily', 'weekly']).optional(),
    reward: z
      .strictObject({
        besitos: z.number().int().min(0).max(10_000).optional(),
        items: z.array(gamificationKey).max(5).default([]),
      })
      .default({ items: [] }),
    starts_at: instant.optional(),
    expires_at: instant.optional(),
  })
  .refine((m) => m.requirement.within_hours === undefined, { message: 'within_hours is for achievements; missions count within their period', path: ['requirement'] })
  .refine((m) => m.reward.besitos !== undefined || m.type === 'daily' || m.type === 'weekly', { message: 'narrative and special missions say their reward', path: ['reward', 'besitos'] })
  .refine((m) => !m.starts_at || !m.expires_at || Date.parse(m.starts_at) < Date.parse(m.expires_at), { message: 'starts_at must be before expires_at', path: ['expires_at'] })
  .transform((m) => ({
    ...m,
    recurrence: m.recurrence ?? (m.type === 'daily' ? 'daily' : m.type === 'weekly' ? 'weekly' : 'once'),
    reward: { ...m.reward, besitos: m.reward.besitos ?? DEFAULT_MISSION_REWARD[m.type as 'daily' | 'weekly'] },
  })));
export type Mission = z.output<typeof missionSchema>;
export type Recurrence = Mission['recurrence'];

export const RARITIES = ['common', 'rare', 'epic', 'legendary'] as const;
export type Rarity = (typeof RARITIES)[number];
/** Achievement rewards by rarity (50–200 besitos). */
export const ACHIEVEMENT_REWARD: Record<Rarity, number> = { common: 50, rare: 100, epic: 150, legendary: 200 };

export const achievementSchema = lazy(() => z
  .strictObject({
    key: gamificationKey,
    title: z.string().min(1).max(80),
    description: z.string().min(1).max(300),
    rarity: z.enum(RARITIES),
    /** Absent: unlocked by its prerequisites alone or, with neither, granted by the story's rewards. */
    requirement: requirementSchema.optional(),
    prerequisites: z.array(gamificationKey).max(10).default([]),
    reward: z
      .strictObject({ besitos: z.number().int().min(50).max(200).optional(), item: gamificationKey.optional() })
      .default({}),
    /** Hidden achievements are not listed under "next" in /logros until unlocked. */
    hidden: z.boolean().default(false),
  })
  .transform((a) => ({ ...a, reward: { ...a.reward, besitos: a.reward.besitos ?? ACHIEVEMENT_REWARD[a.rarity] } })));
export type Achievement = z.output<typeof achievementSchema>;

export const ITEM_CATEGORIES = ['cosmetic', 'narrative', 'powerup'] as const;
export type ItemCategory = (typeof ITEM_CATEGORIES)[number];

export const itemEffectSchema = lazy(() => z.discriminatedUnion('kind', [
  /** Multiplies trivia rewards for a while (the narrative module reads the active effects). */
  z.strictObject({ kind: z.literal('trivia_multiplier'), multiplier: z.number().int().min(2).max(5), minutes: z.number().int().min(1).max(24 * 60) }),
  /** Opens a story fragment (a narrative key). */
  z.strictObject({ kind: z.literal('unlock_fragment'), fragment: gamificationKey }),
  /** A clue: its text is shown when used. */
  z.strictObject({ kind: z.literal('clue'), text: z.string().min(1).max(1000) }),
]));
export type ItemEffect = z.output<typeof itemEffectSchema>;

export const itemSchema = lazy(() => z
  .strictObject({
    key: gamificationKey,
    name: z.string().min(1).max(60),
    description: z.string().min(1).max(300),
    category: z.enum(ITEM_CATEGORIES),
    rarity: z.enum(RARITIES),
    /** Besitos; premium items cost 500–1,000 (seed §4.1). An auction-only item's catalogue value (never charged). */
    price: z.number().int().min(1).max(10_000),
    /** Units for sale in total (absent: unlimited). */
    stock: z.number().int().min(0).max(1_000_000).optional(),
    /** Units one person may buy in total (absent: unlimited). */
    per_user_limit: z.number().int().min(1).max(1000).optional(),
    consumable: z.boolean().default(false),
    effect: itemEffectSchema.optional(),
    /** Not sold in /tienda (rewards only). */
    hidden: z.boolean().default(false),
    /** Only won at auction (/subasta_nueva): never sold in /tienda, never a reward. */
    auction_only: z.boolean().default(false),
  })
  .refine((i) => !i.consumable || i.effect !== undefined, { message: 'a consumable needs an effect', path: ['effect'] })
  .refine((i) => !i.auction_only || (i.stock === undefined && i.per_user_limit === undefined), {
    message: 'an auction-only item is not sold: no stock or per_user_limit (each auction sells one)',
    path: ['auction_only'],
  }));
export type Item = z.output<typeof itemSchema>;

export const catalogueSchema = lazy(() => z
  .strictObject({
    missions: z.array(missionSchema).default([]),
    achievements: z.array(achievementSchema).default([]),
    items: z.array(itemSchema).default([]),
  })
  .superRefine((c, ctx) => {
    for (const problem of crossCheckCatalogue(c)) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
  }));
export type Catalogue = z.output<typeof catalogueSchema>;

export interface CatalogueProblem {
  path: (string | number)[];
  message: string;
}

function duplicates(keys: string[]): string[] {
  const seen = new Set<string>();
  return keys.filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
}

/** References between catalogue entries: unique keys, rewards naming known items, prerequisites known and acyclic. */
export function crossCheckCatalogue(c: { missions: Mission[]; achievements: Achievement[]; items: Item[] }): CatalogueProblem[] {
  const problems: CatalogueProblem[] = [];
  const items = new Set(c.items.map((i) => i.key));
  const achievements = new Map(c.achievements.map((a) => [a.key, a]));
  for (const [section, list] of [['missions', c.missions], ['achievements', c.achievements], ['items', c.items]] as const)
    for (const k of duplicates(list.map((x) => x.key))) problems.push({ path: [section], message: `duplicate key ${k}` });
  const auctionOnly = new Set(c.items.filter((i) => i.auction_only).map((i) => i.key));
  c.missions.forEach((m, i) => {
    for (const it of m.reward.items) {
      if (!items.has(it)) problems.push({ path: ['missions', i, 'reward'], message: `mission ${m.key} rewards unknown item ${it}` });
      if (auctionOnly.has(it)) problems.push({ path: ['missions', i, 'reward'], message: `mission ${m.key} rewards ${it}, which is auction-only` });
    }
  });
  c.achievements.forEach((a, i) => {
    if (a.reward.item && !items.has(a.reward.item)) problems.push({ path: ['achievements', i, 'reward'], message: `achievement ${a.key} rewards unknown item ${a.reward.item}` });
    if (a.reward.item && auctionOnly.has(a.reward.item)) problems.push({ path: ['achievements', i, 'reward'], message: `achievement ${a.key} rewards ${a.reward.item}, which is auction-only` });
    for (const p of a.prerequisites) if (!achievements.has(p)) problems.push({ path: ['achievements', i, 'prerequisites'], message: `achievement ${a.key} requires unknown achievement ${p}` });
  });
  // Prerequisite cycles can never unlock.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (key: string, trail: string[]): void => {
    if (state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') {
      problems.push({ path: ['achievements'], message: `prerequisite cycle: ${[...trail.slice(trail.indexOf(key)), key].join(' → ')}` });
      return;
    }
    state.set(key, 'visiting');
    for (const p of achievements.get(key)?.prerequisites ?? []) visit(p, [...trail, key]);
    state.set(key, 'done');
  };
  for (const key of achievements.keys()) visit(key, []);
  return problems;
}

/** Catalogue entries by key, for the subscriber and the bot. */
export interface CatalogueIndex {
  catalogue: Catalogue;
  missions: Map<string, Mission>;
  achievements: Map<string, Achievement>;
  items: Map<string, Item>;
  /** Missions and achievements interested in each fact kind. */
  missionsByFact: Map<FactKind, Mission[]>;
  achievementsByFact: Map<FactKind, Achievement[]>;
  /** Achievements that list a given achievement among their prerequisites. */
  dependents: Map<string, Achievement[]>;
}

export function indexCatalogue(catalogue: Catalogue): CatalogueIndex {
  const missionsByFact = new Map<FactKind, Mission[]>();
  const achievementsByFact = new Map<FactKind, Achievement[]>();
  const dependents = new Map<string, Achievement[]>();
  const push = <K, V>(m: Map<K, V[]>, k: K, v: V) => m.set(k, [...(m.get(k) ?? []), v]);
  for (const m of catalogue.missions) push(missionsByFact, m.requirement.fact, m);
  for (const a of catalogue.achievements) {
    if (a.requirement) push(achievementsByFact, a.requirement.fact, a);
    for (const p of a.prerequisites) push(dependents, p, a);
  }
  return {
    catalogue,
    missions: new Map(catalogue.missions.map((m) => [m.key, m])),
    achievements: new Map(catalogue.achievements.map((a) => [a.key, a])),
    items: new Map(catalogue.items.map((i) => [i.key, i])),
    missionsByFact,
    achievementsByFact,
    dependents,
  };
}
