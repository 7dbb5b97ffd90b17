import type { Queryable } from '../db/client.js';
import type { Achievement, CatalogueIndex } from './catalogue.js';
import { userAchievements, userMissions } from './repository.js';
import { missionDeadline, missionOpenAt, periodOf } from './rules.js';

import './provider.js';
import './provider-social.js';

export { catalogueOf, fixedCatalogue, parseCatalogue, versionedCatalogue, type CatalogueSource } from './content.js';
export { applyStoryRewards, createGamificationSubscriber, noticeJob } from './subscriber.js';
export { holdingsColumns, readHoldings, type Holdings } from './repository.js';
export type { CatalogueIndex, Mission, Achievement, Item } from './catalogue.js';
export { registerGamificationConditions } from './conditions.js';
export { rankingRebuildJob, rankingRebuildScheduler } from './ranking-rebuild.js';
export { buyCommand, useCommand, triviaMultiplier, inventoryOf, ShopRefused } from './shop.js';
export { react, reactionCount, reactionBesitos, reactionsPerDay, type ReactionResult, type ReactionTarget } from './reactions.js';

export interface MissionView {
  key: string;
  title: string;
  description: string;
  type: string;
  progress: number;
  target: number;
  completed: boolean;
  reward: number;
  /** When the current period (or the mission) ends; null: never. */
  endsAt: Date | null;
}

/** The user's missions open now, with progress in their current period (0 before anything counted). */
export async function missionsView(db: Queryable, userId: number, now: Date, timeZone: string, cat: CatalogueIndex): Promise<MissionView[]> {
  const open = cat.catalogue.missions.filter((m) => missionOpenAt(m, now));
  const periods = open.map((m) => ({ key: m.key, period: periodOf(m.recurrence, now, timeZone).key }));
  const rows = new Map((await userMissions(db, userId, periods)).map((r) => [`${r.mission_key}:${r.period}`, r]));
  return open.map((m, i) => {
      const period = periodOf(m.recurrence, now, timeZone);
      const row = rows.get(`${m.key}:${periods[i]!.period}`);
      const progress = row ? Math.min(row.progress, m.requirement.count) : 0;
      return {
        key: m.key, title: m.title, description: m.description, type: m.type,
        progress, target: m.requirement.count, completed: row?.status === 'completed', reward: m.reward.besitos,
        endsAt: missionDeadline(m, period),
      };
  });
}

export interface AchievementView {
  key: string;
  title: string;
  description: string;
  rarity: Achievement['rarity'];
  reward: number;
  hidden: boolean;
  progress: number;
  target: number;
  unlockedAt: Date | null;
}

/** Every achievement of the catalogue with the user's stored progress (0 before anything counted). */
export async function achievementsView(db: Queryable, userId: number, cat: CatalogueIndex): Promise<AchievementView[]> {
  const rows = await userAchievements(db, userId);
  return cat.catalogue.achievements.map((a) => {
    const row = rows.get(a.key);
    const target = a.requirement?.count ?? Math.max(1, a.prerequisites.length);
    return {
      key: a.key, title: a.title, description: a.description, rarity: a.rarity, reward: a.reward.besitos, hidden: a.hidden,
      progress: Math.min(row?.progress ?? 0, target), target, unlockedAt: row?.unlocked_at ? new Date(row.unlocked_at) : null,
    };
  });
}
