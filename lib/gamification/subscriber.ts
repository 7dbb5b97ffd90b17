import type { BusEvent, EventOf } from '../bus/events.js';
import { newEvent, publish, type EventEnvelope } from '../bus/outbox.js';
import { fromHandlers, type HandlerContext, type SubscriberHandler, type Tx } from '../bus/subscriber.js';
import type { CommitWith } from '../db/transaction.js';
import { grantBesitos } from '../besitos/ledger.js';
import { AlreadyRewarded, CapReached } from '../besitos/errors.js';
import { alreadyRewardedText, claimFirstTime } from '../besitos/first-time.js';
import { capReachedText } from '../besitos/policy.js';
import { localDate, systemClock, type Clock } from '../time/zone.js';
import type { Achievement, CatalogueIndex, FactKind, Mission } from './catalogue.js';
import type { CatalogueSource } from './content.js';
import type { KeyValueStore } from '../kv/types.js';
import { noticeJob, scheduleNotice } from './notify.js';
import { updateRankings } from './ranking.js';
import { qualifyReferral } from './referrals.js';
import { PLAYED_FACTS } from './rules-referral.js';
import { addItems, giftReceiverOf, insertFacts, loadFacts, loadSnapshot, lockUser, missionSlot, writeProgress, type AchievementWrite, type MissionWrite, type Snapshot } from './repository.js';
import { achievementProgress, factsFromEvent, missionDeadline, missionOpenAt, missionProgress, periodOf, type EventLookups, type Fact } from './rules.js';

export { noticeJob };

const STATS_SHARDS = 16;

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
  // Sharded by user (sql/150): concurrent events of different users do not queue on one row.
  const shard = (event.user_id ?? 0) % STATS_SHARDS;
  await tx`
    INSERT INTO besitos_source_stats AS s (day, source, shard, earned, earned_count, spent, spent_count, reversed, reversed_count)
    VALUES (${day}, ${source}, ${shard}, ${earned}, ${earned ? 1 : 0}, ${spent}, ${spent ? 1 : 0}, ${reversed}, ${reversed ? 1 : 0})
    ON CONFLICT (day, source, shard) DO UPDATE SET
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

/**
 * One event's work for one user, on the snapshot read once under the user's lock (loadSnapshot):
 * a mission or achievement is written only when its progress moved, so an event that changes
 * nothing costs the lock and the snapshot statement alone.
 */
class Progress {
  private readonly unlocked: Set<string>;
  /** Rows and events decided in memory, written together by flush(). */
  private readonly missionWrites = new Map<string, MissionWrite>();
  private readonly achievementWrites = new Map<string, AchievementWrite>();
  private readonly events: EventEnvelope[] = [];
  private constructor(
    private readonly tx: Tx,
    private readonly userId: number,
    private readonly cat: CatalogueIndex,
    private readonly timeZone: string,
    private readonly now: Date,
    private readonly snap: Snapshot,
  ) {
    this.unlocked = new Set([...snap.achievements].filter(([, r]) => r.unlocked).map(([k]) => k));
  }

  /**
   * Takes the user's lock and, pipelined behind it (one round trip, with the event's processed_events
   * claim still in flight before them), stores `facts` once and reads the snapshot; then the catalogue
   * of the active version the lock statement read. null: user erased, or the event is a duplicate.
   */
  static async load(tx: Tx, userId: number, catalogue: CatalogueSource | CatalogueIndex, timeZone: string, now: Date, facts: Fact[], claimed: Promise<boolean> = Promise.resolve(true), rewardsWithCommit = false): Promise<Progress | null> {
    const periods = new Set(['once']);
    for (const f of facts) for (const r of ['daily', 'weekly'] as const) periods.add(periodOf(r, f.at, timeZone).key);
    const [fresh, lock, snap] = await Promise.all([claimed, lockUser(tx, userId), loadSnapshot(tx, userId, facts, [...periods])]);
    if (!fresh || !lock.active || !snap.active) return null;
    const cat = typeof catalogue === 'function' ? await catalogue(lock.contentVersion) : catalogue;
    const work = new Progress(tx, userId, cat, timeZone, now, snap);
    work.rewardsWithCommit = rewardsWithCommit;
    return work;
  }

  /**
   * Rewards' grants go with the last writes and the COMMIT instead of being awaited (a round trip
   * less per completion), assuming they are paid: a refused one (cap, an earlier account had it)
   * aborts the transaction (`refusalAborts`), which the bus runs again with this off, to say why.
   */
  private rewardsWithCommit = false;
  /** Grants sent first among the last writes (the balance row's lock, as when they were awaited). */
  private readonly grants: (() => Promise<unknown>)[] = [];

  private async facts(kind: FactKind): Promise<Fact[]> {
    let list = this.snap.facts.get(kind);
    if (!list) {
      list = [...(await loadFacts(this.tx, this.userId, kind)), ...this.pending.filter((f) => f.kind === kind)];
      this.snap.facts.set(kind, list);
    }
    return list;
  }

  /** Reward items, congratulations and completion facts, sent with the rows by flush() (pipelined). */
  private readonly deferred: (() => Promise<unknown>)[] = [];
  /** Facts decided here and not yet stored (flush stores them). */
  private readonly pending: Fact[] = [];

  /** Why the last reward paid no besitos (a cap, or an earlier account of the person had it), for the congratulation. */
  private capped: string | null = null;

  /**
   * Pays a reward (rare: a completion or an unlock, so awaited here); returns the besitos paid — 0 when
   * the source's cap refused them (lib/besitos/policy.ts) or the person had it on an earlier account
   * (`firstTime`, lib/besitos/first-time.ts: then no items either). Items go with the other writes.
   */
  private async reward(what: 'mission' | 'achievement', key: string, idem: string, firstTime: string, besitos: number, items: string[]): Promise<number> {
    let paid = 0;
    let already = false;
    this.capped = null;
    if (besitos > 0 && this.rewardsWithCommit) {
      const grant = { userId: this.userId, amount: besitos, source: what, idempotencyKey: `${what}:${idem}`, firstTime, description: key, now: this.now, timeZone: this.timeZone, refusalAborts: true };
      this.grants.push(() => grantBesitos(this.tx, grant));
      paid = besitos;
    } else if (besitos > 0) {
      try {
        await grantBesitos(this.tx, { userId: this.userId, amount: besitos, source: what, idempotencyKey: `${what}:${idem}`, firstTime, description: key, now: this.now, timeZone: this.timeZone });
        paid = besitos;
      } catch (err) {
        if (err instanceof AlreadyRewarded) already = true;
        else if (!(err instanceof CapReached)) throw err;
        else this.capped = capReachedText(err, this.timeZone, this.now);
      }
    } else if (items.length) {
      already = !(await claimFirstTime(this.tx, { userId: this.userId, reward: firstTime }));
    }
    if (already) {
      this.capped = alreadyRewardedText();
      return paid;
    }
    for (const item of items)
      if (this.cat.items.has(item))
        this.deferred.push(() => addItems(this.tx, { userId: this.userId, itemKey: item, quantity: 1, kind: 'reward', idempotencyKey: `${what}:${idem}:${item}`, now: this.now }));
    return paid;
  }

  async mission(m: Mission, fact: Fact): Promise<Fact | null> {
    if (!missionOpenAt(m, fact.at)) return null;
    const period = periodOf(m.recurrence, fact.at, this.timeZone);
    const slot = missionSlot(m.key, period.key);
    const row = this.snap.missions.get(slot);
    if (row?.status === 'completed') return null;
    const p = missionProgress(m, await this.facts(m.requirement.fact), fact.at, this.timeZone);
    // Progress unchanged (a fact about another subject, a count already stored): nothing to write.
    if (row && !p.completed && p.progress <= row.progress) return null;
    const expiresAt = missionDeadline(m, period);
    // Under the user's lock the snapshot is exact: no row yet = assigned now; not completed before = completed now.
    this.missionWrites.set(slot, { key: m.key, period: period.key, progress: Math.max(row?.progress ?? 0, p.progress), target: p.target, expiresAt, reward: m.reward.besitos, complete: p.completed });
    this.snap.missions.set(slot, { status: p.completed ? 'completed' : 'active', progress: Math.max(row?.progress ?? 0, p.progress) });
    if (!row) this.events.push(newEvent('gamification.mission_assigned', { mission_key: m.key, mission_type: m.type, expires_at: expiresAt?.toISOString() ?? null }, this.userId, this.now));
    if (!p.completed) return null;
    const idem = `${this.userId}:${m.key}:${period.key}`;
    const paid = await this.reward('mission', m.key, idem, `mission:${m.key}:${period.key}`, m.reward.besitos, m.reward.items);
    this.events.push(newEvent('gamification.mission_completed', { mission_key: m.key, reward_besitos: paid }, this.userId, this.now));
    const missionNotice = { user_id: this.userId, what: 'mission' as const, title: m.title, reward_besitos: paid, item_names: this.itemNames(m.reward.items), ...(this.capped ? { capped: this.capped } : {}) };
    this.deferred.push(() => scheduleNotice(this.tx, `mission:${idem}`, missionNotice, this.now));
    return { kind: 'mission_completed', sourceId: `mission:${m.key}:${period.key}`, at: fact.at, subject: m.key, amount: 1 };
  }

  private itemNames(keys: string[]): string[] {
    return keys.flatMap((k) => this.cat.items.get(k)?.name ?? []);
  }

  /** Evaluates an achievement; on unlock, its dependents too. */
  async achievement(a: Achievement): Promise<void> {
    if (this.unlocked.has(a.key)) return;
    const row = this.snap.achievements.get(a.key);
    const facts = a.requirement ? await this.facts(a.requirement.fact) : [];
    const p = achievementProgress(a, facts, this.unlocked, this.timeZone);
    if (!p.unlocks && p.progress <= (row?.progress ?? 0)) return; // nothing new to store
    const progress = Math.max(row?.progress ?? 0, p.progress);
    this.achievementWrites.set(a.key, { key: a.key, progress, target: p.target, reward: a.reward.besitos, unlock: p.unlocks });
    this.snap.achievements.set(a.key, { progress, unlocked: p.unlocks });
    if (p.unlocks) await this.unlockedNow(a);
  }

  /** Grants an achievement whatever its requirement (a story decision's reward); once. */
  async grant(a: Achievement): Promise<boolean> {
    if (this.unlocked.has(a.key)) return false;
    const target = a.requirement?.count ?? Math.max(1, a.prerequisites.length);
    this.achievementWrites.set(a.key, { key: a.key, progress: target, target, reward: a.reward.besitos, unlock: true });
    this.snap.achievements.set(a.key, { progress: target, unlocked: true });
    await this.unlockedNow(a);
    return true;
  }

  /**
   * Story rewards: items into the backpack (once per reason and item, and once per person: an earlier
   * account of theirs that had this reward gets none — the move's besitos then go the same way), achievements granted.
   */
  async storyRewards(reason: string, items: string[], achievements: string[]): Promise<void> {
    const fresh = items.length === 0 || (await claimFirstTime(this.tx, { userId: this.userId, reward: `story:${reason}` }));
    if (fresh) for (const item of items)
      if (this.cat.items.has(item))
        await addItems(this.tx, { userId: this.userId, itemKey: item, quantity: 1, kind: 'reward', idempotencyKey: `story:${this.userId}:${reason}:${item}`, now: this.now });
    for (const key of achievements) {
      const a = this.cat.achievements.get(key);
      if (a) await this.grant(a);
    }
  }

  /** What follows an unlock: the reward, the event, the congratulation, then the dependents. */
  private async unlockedNow(a: Achievement): Promise<void> {
    this.unlocked.add(a.key);
    const items = a.reward.item ? [a.reward.item] : [];
    const paid = await this.reward('achievement', a.key, `${this.userId}:${a.key}`, `achievement:${a.key}`, a.reward.besitos, items);
    this.events.push(newEvent('gamification.achievement_unlocked', { achievement_key: a.key, reward_besitos: paid }, this.userId, this.now));
    const notice = { user_id: this.userId, what: 'achievement' as const, title: a.title, reward_besitos: paid, item_names: this.itemNames(items), ...(this.capped ? { capped: this.capped } : {}) };
    this.deferred.push(() => scheduleNotice(this.tx, `achievement:${this.userId}:${a.key}`, notice, this.now));
    for (const d of this.cat.dependents.get(a.key) ?? []) await this.achievement(d);
  }

  get referralPending(): boolean {
    return this.snap.referralPending;
  }

  /** Advances what the event's new facts concern; facts from completed missions follow. `alongside`, `commitWith`: see flush. */
  async run(alongside?: () => Promise<unknown>, commitWith?: CommitWith): Promise<void> {
    const queue = [...this.snap.fresh];
    while (queue.length) {
      const fact = queue.shift()!;
      for (const m of this.cat.missionsByFact.get(fact.kind) ?? []) {
        const done = await this.mission(m, fact);
        if (!done) continue;
        // Completed once under the lock, so its fact is new: stored with the rest, counted now.
        this.deferred.push(() => insertFacts(this.tx, this.userId, [done]));
        this.pending.push(done);
        this.snap.facts.get(done.kind)?.push(done);
        queue.push(done);
      }
      for (const a of this.cat.achievementsByFact.get(fact.kind) ?? []) await this.achievement(a);
    }
    await this.flush(alongside, commitWith);
  }

  /**
   * The rows, events, rewards and congratulations decided: sent together (pipelined, one round trip),
   * last of them `alongside` (a statement of the caller's that goes after these writes). With
   * `commitWith` they are not awaited here but handed to the bus, which sends COMMIT with them.
   */
  async flush(alongside?: () => Promise<unknown>, commitWith?: CommitWith): Promise<void> {
    const writes = this.grants.map((run) => run());
    writes.push(...writeProgress(this.tx, this.userId, [...this.missionWrites.values()], [...this.achievementWrites.values()], this.now));
    if (this.events.length) writes.push(publish(this.tx, ...this.events));
    for (const run of this.deferred) writes.push(run());
    if (alongside) writes.push(alongside());
    this.missionWrites.clear();
    this.achievementWrites.clear();
    this.events.length = 0;
    this.deferred.length = 0;
    this.grants.length = 0;
    if (commitWith) commitWith(...writes);
    else await Promise.all(writes);
  }
}

/**
 * Missions and achievements from events: the facts an event states are stored once (processed_events
 * already gives one delivery per event; the facts' keys make it exact for late or replayed copies),
 * progress is recomputed from the set, and a completion pays through lib/besitos and writes its event
 * in this same transaction.
 * `last` (the besitos statistics) takes a row every user shares: it runs after every lock this event
 * takes, pipelined with the final writes unless a referral's lock still follows them.
 */
export async function advance(tx: Tx, event: BusEvent, ctx: HandlerContext, deps: Required<Omit<GamificationDeps, 'kv'>>, last?: () => Promise<unknown>): Promise<void> {
  const userId = event.user_id;
  const facts = userId ? factsFromEvent(event, await lookupsOf(tx, event)) : [];
  // An erased user (/borrar) or a duplicate gets null: nothing counted.
  const work = facts.length ? await Progress.load(tx, userId!, deps.catalogue, ctx.timeZone, deps.clock(), facts, ctx.claimed, ctx.attempt === 1) : null;
  if (!work) {
    if (last && (await ctx.claimed)) ctx.commitWith(last());
    return;
  }
  // A referee who has played (first fragment, first /regalo): the referral pays, once.
  const qualifies = work.referralPending && facts.some((f) => (PLAYED_FACTS as readonly string[]).includes(f.kind));
  // The last writes go with the COMMIT, unless a referral's lock still follows them.
  await work.run(qualifies ? undefined : last, qualifies ? undefined : ctx.commitWith);
  if (!qualifies) return;
  await qualifyReferral(tx, userId!, deps.clock(), ctx.timeZone);
  if (last) ctx.commitWith(last());
}

/** What an event does not say and its facts need: a gift's receiver (not in the ledger event). */
async function lookupsOf(tx: Tx, event: BusEvent): Promise<EventLookups> {
  if (event.type !== 'gamification.besitos_spent' || event.data.source !== 'gift' || event.data.reversal_of !== undefined) return {};
  return { giftReceiverId: await giftReceiverOf(tx, event.data.transaction_id) };
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
  const progress = await Progress.load(tx, r.userId, r.catalogue, r.timeZone, r.now, []);
  if (!progress) return;
  await progress.storyRewards(r.reason, r.items, r.achievements);
  await progress.flush();
}

/**
 * Gamification's reactions: besitos statistics, missions and achievements. Its first statements go out
 * with the processed_events claim (pipelinesClaim: one round trip less per event); a duplicate stops
 * at the snapshot and its transaction is rolled back.
 */
export function createGamificationSubscriber(deps: GamificationDeps): SubscriberHandler {
  const full = { catalogue: deps.catalogue, clock: deps.clock ?? systemClock, kv: deps.kv };
  const progress = (tx: Tx, event: BusEvent, ctx: HandlerContext) => advance(tx, event, ctx, full);
  // The statistics row (one per day, source and shard, shared by many users) is taken last: a
  // transaction holding it never waits for a user's or a referrer's lock (that order deadlocked the
  // referrals), nor for Redis (the rankings come before it).
  const moved = async (tx: Tx, e: Move, ctx: HandlerContext) => {
    const stats = () => countMove(tx, e, ctx);
    if (!full.kv) return advance(tx, e, ctx, full, stats);
    await progress(tx, e, ctx);
    if (!(await ctx.claimed)) return; // Redis is outside the transaction
    // The boards are set from the ledger's committed rows, not from these writes: they need not wait for them.
    await updateRankings(tx, full.kv, e, ctx.timeZone, ctx.log);
    ctx.commitWith(stats());
  };
  const handler = fromHandlers({
    'gamification.besitos_earned': moved,
    'gamification.besitos_spent': moved,
    'narrative.fragment_completed': progress,
    'narrative.level_completed': progress,
    'narrative.secret_discovered': progress,
    'gamification.trivia_answered': progress,
    'gamification.item_purchased': progress,
    'gamification.item_used': progress,
  });
  return Object.assign(handler, { pipelinesClaim: true });
}
