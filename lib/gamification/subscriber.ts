import type { BusEvent, EventOf } from '../bus/events.js';
import { newEvent, publish } from '../bus/outbox.js';
import { fromHandlers, type HandlerContext, type SubscriberHandler, type Tx } from '../bus/subscriber.js';
import { grantBesitos } from '../besitos/ledger.js';
import { CapReached } from '../besitos/errors.js';
import { capReachedText } from '../besitos/policy.js';
import { localDate, systemClock, type Clock } from '../time/zone.js';
import type { Achievement, CatalogueIndex, FactKind, Mission } from './catalogue.js';
import type { CatalogueSource } from './content.js';
import type { KeyValueStore } from '../kv/types.js';
import { noticeJob, scheduleNotice } from './notify.js';
import { updateRankings } from './ranking.js';
import { qualifyReferral } from './referrals.js';
import { PLAYED_FACTS } from './rules-referral.js';
import { addItems, giftReceiverOf, insertFacts, loadFacts, lockUser, saveAchievementProgress, saveMissionProgress, missionStatus, userAchievements } from './repository.js';
import { achievementProgress, factsFromEvent, missionDeadline, missionOpenAt, missionProgress, periodOf, type Fact } from './rules.js';

export { noticeJob };

type Move = EventOf<'gamification.besitos_earned'> | EventOf<'gamification.besitos_spent'>;

/**
 * Source analytics (seed §4.1): besitos earned and spent per source and local day. A compensating
 * entry (reversal_of set) counts as reversed, so that earned/spent stay what users did.
 */
async function countMove(tx: Tx, event: Move, ctx: HandlerContext): Promise<void> {
  const day = localDate(new Date(event.occurred_at), ctx.timeZone);
  const { amount, source } = event.data;
  const column = event.data.reversal_of !== undefined ? 'reversed' : event.type === 'gamification.besitos_earned' ? 'earned' : 'spent';
  const earned = column === 'earned' ? amount : 0;
  const spent = column === 'spent' ? amount : 0;
  const reversed = column === 'reversed' ? amount : 0;
  await tx`
    INSERT INTO besitos_source_stats AS s (day, source, earned, earned_count, spent, spent_count, reversed, reversed_count)
    VALUES (${day}, ${source}, ${earned}, ${earned ? 1 : 0}, ${spent}, ${spent ? 1 : 0}, ${reversed}, ${reversed ? 1 : 0})
    ON CONFLICT (day, source) DO UPDATE SET
      earned = s.earned + excluded.earned,
      earned_count = s.earned_count + excluded.earned_count,
      spent = s.spent + excluded.spent,
      spent_count = s.spent_count + excluded.spent_count,
      reversed = s.reversed + excluded.reversed,
      reversed_count = s.reversed_count + excluded.reversed_count,
      updated_at = now()`;
}

export interface GamificationDeps {
  /** The catalogue of a content version (lib/gamification/content.ts versionedCatalogue). */
  catalogue: CatalogueSource;
  clock?: Clock;
  /** The rankings' sorted sets (lib/gamification/ranking.ts); without it, only Postgres is updated. */
  kv?: KeyValueStore;
}

/** One event's work for one user: facts to evaluate, facts' cache, achievements known unlocked. */
class Progress {
  private readonly factCache = new Map<FactKind, Fact[]>();
  private unlocked: Set<string> | null = null;
  /** Why the last reward paid no besitos (a cap), for the congratulation. */
  private capped: string | null = null;
  constructor(
    private readonly tx: Tx,
    private readonly userId: number,
    private readonly cat: CatalogueIndex,
    private readonly timeZone: string,
    private readonly now: Date,
  ) {}

  private async facts(kind: FactKind): Promise<Fact[]> {
    let list = this.factCache.get(kind);
    if (!list) {
      list = await loadFacts(this.tx, this.userId, kind);
      this.factCache.set(kind, list);
    }
    return list;
  }

  /** Pays a reward; returns the besitos paid (0 when the source's cap refused them: lib/besitos/policy.ts). */
  private async reward(what: 'mission' | 'achievement', key: string, idem: string, besitos: number, items: string[]): Promise<number> {
    let paid = 0;
    if (besitos > 0) {
      try {
        await grantBesitos(this.tx, { userId: this.userId, amount: besitos, source: what, idempotencyKey: `${what}:${idem}`, description: key, now: this.now, timeZone: this.timeZone });
        paid = besitos;
      } catch (err) {
        if (!(err instanceof CapReached)) throw err;
        this.capped = capReachedText(err, this.timeZone, this.now);
      }
    }
    for (const item of items)
      if (this.cat.items.has(item))
        await addItems(this.tx, { userId: this.userId, itemKey: item, quantity: 1, kind: 'reward', idempotencyKey: `${what}:${idem}:${item}`, now: this.now });
    return paid;
  }

  async mission(m: Mission, fact: Fact): Promise<Fact | null> {
    if (!missionOpenAt(m, fact.at)) return null;
    const period = periodOf(m.recurrence, fact.at, this.timeZone);
    if ((await missionStatus(this.tx, this.userId, m.key, period.key)) === 'completed') return null;
    const p = missionProgress(m, await this.facts(m.requirement.fact), fact.at, this.timeZone);
    const expiresAt = missionDeadline(m, period);
    const saved = await saveMissionProgress(this.tx, {
      userId: this.userId, key: m.key, period: period.key, progress: p.progress, target: p.target,
      expiresAt, reward: m.reward.besitos, complete: p.completed, now: this.now,
    });
    if (saved.assigned)
      await publish(this.tx, newEvent('gamification.mission_assigned', { mission_key: m.key, mission_type: m.type, expires_at: expiresAt?.toISOString() ?? null }, this.userId, this.now));
    if (!saved.completed) return null;
    const idem = `${this.userId}:${m.key}:${period.key}`;
    this.capped = null;
    const paid = await this.reward('mission', m.key, idem, m.reward.besitos, m.reward.items);
    await publish(this.tx, newEvent('gamification.mission_completed', { mission_key: m.key, reward_besitos: paid }, this.userId, this.now));
    await scheduleNotice(this.tx, `mission:${idem}`, { user_id: this.userId, what: 'mission', title: m.title, reward_besitos: paid, item_names: this.itemNames(m.reward.items), ...(this.capped ? { capped: this.capped } : {}) }, this.now);
    return { kind: 'mission_completed', sourceId: `mission:${m.key}:${period.key}`, at: fact.at, subject: m.key, amount: 1 };
  }

  private itemNames(keys: string[]): string[] {
    return keys.flatMap((k) => this.cat.items.get(k)?.name ?? []);
  }

  /** Evaluates an achievement; on unlock, its dependents too. */
  async achievement(a: Achievement): Promise<void> {
    const unlocked = await this.unlockedSet();
    if (unlocked.has(a.key)) return;
    const facts = a.requirement ? await this.facts(a.requirement.fact) : [];
    const p = achievementProgress(a, facts, unlocked, this.timeZone);
    const unlockedNow = await saveAchievementProgress(this.tx, {
      userId: this.userId, key: a.key, progress: p.progress, target: p.target, reward: a.reward.besitos, unlock: p.unlocks, now: this.now,
    });
    if (unlockedNow) await this.unlockedNow(a);
  }

  /** Grants an achievement whatever its requirement (a story decision's reward); once. */
  async grant(a: Achievement): Promise<boolean> {
    if ((await this.unlockedSet()).has(a.key)) return false;
    const target = a.requirement?.count ?? Math.max(1, a.prerequisites.length);
    const unlockedNow = await saveAchievementProgress(this.tx, {
      userId: this.userId, key: a.key, progress: target, target, reward: a.reward.besitos, unlock: true, now: this.now,
    });
    if (unlockedNow) await this.unlockedNow(a);
    return unlockedNow;
  }

  /** Story rewards: items into the backpack (once per reason and item), achievements granted. */
  async storyRewards(reason: string, items: string[], achievements: string[]): Promise<void> {
    for (const item of items)
      if (this.cat.items.has(item))
        await addItems(this.tx, { userId: this.userId, itemKey: item, quantity: 1, kind: 'reward', idempotencyKey: `story:${this.userId}:${reason}:${item}`, now: this.now });
    for (const key of achievements) {
      const a = this.cat.achievements.get(key);
      if (a) await this.grant(a);
    }
  }

  private async unlockedSet(): Promise<Set<string>> {
    this.unlocked ??= new Set([...(await userAchievements(this.tx, this.userId)).values()].filter((r) => r.unlocked_at).map((r) => r.achievement_key));
    return this.unlocked;
  }

  /** What follows an unlock: the reward, the event, the congratulation, then the dependents. */
  private async unlockedNow(a: Achievement): Promise<void> {
    this.unlocked!.add(a.key);
    const items = a.reward.item ? [a.reward.item] : [];
    this.capped = null;
    const paid = await this.reward('achievement', a.key, `${this.userId}:${a.key}`, a.reward.besitos, items);
    await publish(this.tx, newEvent('gamification.achievement_unlocked', { achievement_key: a.key, reward_besitos: paid }, this.userId, this.now));
    await scheduleNotice(this.tx, `achievement:${this.userId}:${a.key}`, { user_id: this.userId, what: 'achievement', title: a.title, reward_besitos: paid, item_names: this.itemNames(items), ...(this.capped ? { capped: this.capped } : {}) }, this.now);
    for (const d of this.cat.dependents.get(a.key) ?? []) await this.achievement(d);
  }

  /** Stores the facts and advances what they concern; facts from completed missions follow. */
  async apply(facts: Fact[]): Promise<void> {
    const queue = await insertFacts(this.tx, this.userId, facts);
    while (queue.length) {
      const fact = queue.shift()!;
      this.factCache.delete(fact.kind);
      for (const m of this.cat.missionsByFact.get(fact.kind) ?? []) {
        const done = await this.mission(m, fact);
        if (done) queue.push(...(await insertFacts(this.tx, this.userId, [done])));
      }
      for (const a of this.cat.achievementsByFact.get(fact.kind) ?? []) await this.achievement(a);
    }
  }
}

/**
 * Missions and achievements from events: the facts an event states are stored once (processed_events
 * already gives one delivery per event; the facts' keys make it exact for late or replayed copies),
 * progress is recomputed from the set, and a completion pays through lib/besitos and writes its event
 * in this same transaction.
 */
export async function advance(tx: Tx, event: BusEvent, ctx: HandlerContext, deps: Required<Omit<GamificationDeps, 'kv'>>): Promise<void> {
  const userId = event.user_id;
  if (!userId) return;
  const lookups =
    event.type === 'gamification.besitos_spent' && event.data.source === 'gift' && event.data.reversal_of === undefined
      ? { giftReceiverId: await giftReceiverOf(tx, event.data.transaction_id) }
      : {};
  const facts = factsFromEvent(event, lookups);
  if (facts.length === 0) return;
  const { active, contentVersion } = await lockUser(tx, userId);
  if (!active) return; // erased (/borrar): nothing to count
  await new Progress(tx, userId, await deps.catalogue(contentVersion), ctx.timeZone, deps.clock()).apply(facts);
  // A referee who has played (first fragment, first /regalo): the referral pays, once.
  if (facts.some((f) => (PLAYED_FACTS as readonly string[]).includes(f.kind))) await qualifyReferral(tx, userId, deps.clock(), ctx.timeZone);
}

/**
 * A story move's item and achievement rewards (content `rewards.items` / `rewards.achievements`),
 * applied in the move's transaction: called by the narrative engine through lib/gamification/index.ts.
 * Takes the user's gamification lock first (before the move touches the balance), so it orders with
 * the subscriber (lock → balance). Idempotent: items keyed by user and reason, achievements unlocked once.
 */
export async function applyStoryRewards(
  tx: Tx,
  r: { userId: number; reason: string; items: string[]; achievements: string[]; catalogue: CatalogueIndex; timeZone: string; now: Date },
): Promise<void> {
  if (r.items.length === 0 && r.achievements.length === 0) return;
  const { active } = await lockUser(tx, r.userId);
  if (!active) return;
  await new Progress(tx, r.userId, r.catalogue, r.timeZone, r.now).storyRewards(r.reason, r.items, r.achievements);
}

/** Gamification's reactions: besitos statistics, missions and achievements. */
export function createGamificationSubscriber(deps: GamificationDeps): SubscriberHandler {
  const full = { catalogue: deps.catalogue, clock: deps.clock ?? systemClock, kv: deps.kv };
  const progress = (tx: Tx, event: BusEvent, ctx: HandlerContext) => advance(tx, event, ctx, full);
  return fromHandlers({
    // The statistics row (one per day and source, shared by everyone) is taken last: a transaction
    // holding it never waits for a user's or a referrer's lock (that order deadlocked the referrals).
    'gamification.besitos_earned': async (tx, e, ctx) => {
      await progress(tx, e, ctx);
      await updateRankings(tx, full.kv, e, ctx.timeZone, ctx.log);
      await countMove(tx, e, ctx);
    },
    'gamification.besitos_spent': async (tx, e, ctx) => {
      await progress(tx, e, ctx);
      await updateRankings(tx, full.kv, e, ctx.timeZone, ctx.log);
      await countMove(tx, e, ctx);
    },
    'narrative.fragment_completed': progress,
    'narrative.level_completed': progress,
    'narrative.secret_discovered': progress,
    'gamification.trivia_answered': progress,
    'gamification.item_purchased': progress,
    'gamification.item_used': progress,
  });
}
