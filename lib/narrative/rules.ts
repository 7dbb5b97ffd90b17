import type { EventType } from '../bus/events.js';
import { conditions, type ConditionScope, type ConditionState } from '../conditions/index.js';
import { relocate } from '../content/relocate.js';
import type { ContentIndex } from '../content/store.js';
import { riddleMatches, type Fragment, type Rewards, type Trivia } from '../content/schema.js';

/**
 * The story engine as pure functions (the Decider pattern): progress + action → new progress,
 * effects and what to show. No I/O: lib/narrative/repository.ts loads the progress, applies the
 * effects (ledger, outbox) in one transaction and stores the new progress.
 */

/** A user's place in the story (user_narrative_progress). Sets are kept as sorted arrays (JSON). */
export interface Progress {
  /** Hash of the content version the keys below were written against. */
  version: string;
  /** The fragment being read; null before the story starts. */
  current: string | null;
  /** The level of `current` (kept so a user can be relocated when `current` disappears). */
  currentLevel: number;
  /** Counts every move; buttons carry it, so a button of an earlier screen moves nothing. */
  step: number;
  completed: string[];
  flags: string[];
  /** Fragment key → times entered. */
  visits: Record<string, number>;
  /** `<fragment>/<decision>` taken at least once (once-only decisions, first-time rewards). */
  taken: string[];
  /** Premium subjects paid for: `fragment:<key>` or `level:<n>`. */
  paid: string[];
  levelsCompleted: number[];
  /** Secret fragments discovered. */
  secrets: string[];
  /** Highest level entered (0 before starting). */
  level: number;
  /** Wrong riddle answers at the current fragment. */
  tries: number;
  /**
   * Items and achievements earned by the story (rewards), recorded until the gamification module
   * applies them (it will take them from here and from the events).
   */
  items: string[];
  achievements: string[];
}

/** What the engine needs to know about the user besides progress (read in the same transaction). */
export interface Player {
  vip: boolean;
  besitos: number;
  /**
   * The gamification snapshot (lib/gamification holdingsColumns, read in the same statement as the
   * progress): items owned, achievements unlocked, fragments opened by a narrative key. Absent: none.
   */
  items?: ReadonlyMap<string, number>;
  achievements?: ReadonlySet<string>;
  opened?: ReadonlySet<string>;
}

export function newProgress(version: string): Progress {
  return { version, current: null, currentLevel: 0, step: 0, completed: [], flags: [], visits: {}, taken: [], paid: [], levelsCompleted: [], secrets: [], level: 0, tries: 0, items: [], achievements: [] };
}

export type Effect =
  /** Besitos granted once per (user, reason): the reason is the idempotency key's tail. */
  | { kind: 'grant'; amount: number; reason: string; description: string; items: string[]; achievements: string[] }
  /** A premium unlock: spent once per (user, subject). */
  | { kind: 'spend'; amount: number; subject: string; description: string }
  | { kind: 'event'; type: EventType; data: Record<string, unknown> };

/** Where a move goes: a decision of the current fragment, the story's "Continuar", a riddle or dice branch. */
export type Via = { kind: 'decision'; index: number } | { kind: 'continue' };

/** Everything the bot needs to draw the user's screen (stored as the command's result, so a replay redraws it). */
export interface Screen {
  /** The fragment shown (null only when the story cannot start, e.g. an empty level). */
  fragment: string | null;
  step: number;
  version: string;
  /** Set when the move entered a new level: its intro goes first. */
  levelIntro: number | null;
  decisions: { index: number; label: string }[];
  /** Story fragment with a way on. */
  canContinue: boolean;
  game: 'riddle' | 'dice' | null;
  ending: boolean;
  /** Besitos granted by this move (for a short line under the fragment). */
  earned: number;
  /** A Spanish line to show first (relocation after a content change, a wrong answer …). */
  notice: Notice | null;
}

export type Notice =
  | { kind: 'relocated' }
  | { kind: 'riddle_wrong'; hint: string | null; triesLeft: number | null }
  | { kind: 'secret' }
  | { kind: 'premium_paid'; price: number };

/** Why a move was refused: nothing changed. */
export type Refusal =
  | { refused: 'stale' }
  | { refused: 'old_version' }
  | { refused: 'not_started' }
  | { refused: 'unavailable' }
  | { refused: 'not_a_game' }
  /** The way on is locked: reasons in Spanish; `price` when paying would open it (premium). */
  | { refused: 'locked'; target: string; reasons: string[]; price: number | null; vip: boolean; via: Via };

export interface Moved {
  progress: Progress;
  effects: Effect[];
  screen: Screen;
}
export type Outcome = Moved | Refusal;

export const isRefusal = (o: Outcome | Refusal): o is Refusal => 'refused' in o;

// ---------------------------------------------------------------------------------------------
// Conditions

export function conditionState(p: Progress, player: Player): ConditionState {
  return {
    vip: player.vip,
    besitos: player.besitos,
    level: p.level,
    completed: new Set(p.completed),
    flags: new Set(p.flags),
    paid: new Set(p.paid),
    items: player.items ?? new Map(),
    achievements: player.achievements ?? new Set(),
  };
}

function scopeFor(content: ContentIndex, subject: string): ConditionScope {
  return {
    subject,
    names: {
      fragment: (k) => content.fragment(k)?.title,
      level: (n) => content.level(n)?.title,
      item: (k) => content.content.items.find((i) => i.key === k)?.name,
      achievement: (k) => content.content.achievements.find((a) => a.key === k)?.title,
    },
  };
}

export interface Lock {
  reasons: string[];
  price: number | null;
  /** A VIP level (the pointer to /vip). */
  vip: boolean;
}

/** Whether the user may enter the level (VIP flag, then its unlock conditions). */
export function levelLock(content: ContentIndex, p: Progress, player: Player, n: number): Lock | null {
  const level = content.level(n);
  if (!level) return { reasons: ['Ese nivel no existe.'], price: null, vip: false };
  const state = conditionState(p, player);
  const scope = scopeFor(content, `level:${n}`);
  const reasons: string[] = [];
  if (level.vip && !player.vip) reasons.push('Este nivel es solo para VIP: mira /vip.');
  const check = conditions.check(level.unlock, state, scope);
  if (!check.ok) reasons.push(...check.missing);
  if (!reasons.length) return null;
  const price = level.vip && !player.vip ? null : conditions.priceToUnlock(level.unlock, state, scope);
  return { reasons, price, vip: level.vip && !player.vip };
}

/** Whether the user may enter the fragment: its level first (when it is another level), then its own unlock. */
export function fragmentLock(content: ContentIndex, p: Progress, player: Player, key: string): Lock | null {
  const f = content.fragment(key);
  if (!f) return { reasons: ['Ese fragmento ya no existe.'], price: null, vip: false };
  // VIP is checked on every move (a lapsed subscription closes the level again); the level's own
  // conditions only when entering it.
  if (content.level(f.level)?.vip && !player.vip) return { reasons: ['Este nivel es solo para VIP: mira /vip.'], price: null, vip: true };
  // A narrative key the user used (item effect unlock_fragment) opens the fragment and its level.
  if (player.opened?.has(key)) return null;
  if (f.level !== p.currentLevel && !p.visits[key]) {
    const l = levelLock(content, p, player, f.level);
    if (l) return l;
  }
  const state = conditionState(p, player);
  const scope = scopeFor(content, `fragment:${key}`);
  const check = conditions.check(f.unlock, state, scope);
  if (check.ok) return null;
  return { reasons: check.missing, price: conditions.priceToUnlock(f.unlock, state, scope), vip: false };
}

/** The premium subject that paying would open for a move into `key`: the level's or the fragment's. */
function premiumSubject(content: ContentIndex, p: Progress, player: Player, key: string): string | null {
  const f = content.fragment(key);
  if (!f) return null;
  if (f.level !== p.currentLevel && !p.visits[key] && levelLock(content, p, player, f.level)) return `level:${f.level}`;
  return `fragment:${key}`;
}

// ---------------------------------------------------------------------------------------------
// Helpers over progress

const addTo = (list: string[], x: string) => (list.includes(x) ? list : [...list, x].sort());
const addNum = (list: number[], x: number) => (list.includes(x) ? list : [...list, x].sort((a, b) => a - b));

function clone(p: Progress): Progress {
  return { ...p, completed: [...p.completed], flags: [...p.flags], visits: { ...p.visits }, taken: [...p.taken], paid: [...p.paid], levelsCompleted: [...p.levelsCompleted], secrets: [...p.secrets], items: [...p.items], achievements: [...p.achievements] };
}

function grantOf(rewards: Rewards, reason: string, description: string): Effect[] {
  if (rewards.besitos <= 0 && !rewards.items.length && !rewards.achievements.length) return [];
  return [{ kind: 'grant', amount: rewards.besitos, reason, description, items: rewards.items, achievements: rewards.achievements }];
}

/** The player as the screen after a move sees them: with the items and achievements the move grants. */
function rewarded(player: Player, effects: Effect[]): Player {
  const grants = effects.filter((e): e is Extract<Effect, { kind: 'grant' }> => e.kind === 'grant' && (e.items.length > 0 || e.achievements.length > 0));
  if (grants.length === 0) return player;
  const items = new Map(player.items ?? []);
  const achievements = new Set(player.achievements ?? []);
  for (const g of grants) {
    for (const i of g.items) items.set(i, (items.get(i) ?? 0) + 1);
    for (const a of g.achievements) achievements.add(a);
  }
  return { ...player, items, achievements };
}

const earnedBy = (effects: Effect[]) => effects.reduce((s, e) => s + (e.kind === 'grant' ? e.amount : 0), 0);

/** Decisions of the fragment the user may see now (show condition holds, once-only not yet taken). */
export function visibleDecisions(content: ContentIndex, p: Progress, player: Player, f: Fragment): { index: number; label: string }[] {
  const state = conditionState(p, player);
  return f.decisions.flatMap((d, index) => {
    if (d.once && p.taken.includes(`${f.key}/${d.key}`)) return [];
    if (!conditions.check(d.show, state, scopeFor(content, `decision:${f.key}/${d.key}`)).ok) return [];
    return [{ index, label: d.label }];
  });
}

export function screenOf(content: ContentIndex, p: Progress, player: Player, extra: Partial<Screen> = {}): Screen {
  const f = p.current ? content.fragment(p.current) : null;
  return {
    fragment: f?.key ?? null,
    step: p.step,
    version: p.version,
    levelIntro: null,
    decisions: f && f.type === 'decision' ? visibleDecisions(content, p, player, f) : [],
    canContinue: Boolean(f && f.type === 'story' && f.next),
    game: f?.type === 'mini_game' && f.game ? f.game.kind : null,
    ending: Boolean(f?.ending),
    earned: 0,
    notice: null,
    ...extra,
  };
}

/** Marks a fragment completed (first time: its rewards and the event). */
function complete(content: ContentIndex, p: Progress, f: Fragment, effects: Effect[]): void {
  if (p.completed.includes(f.key)) return;
  p.completed = addTo(p.completed, f.key);
  const grants = grantOf(f.rewards, `fragment:${f.key}`, `Historia: ${f.title}`);
  effects.push(...grants);
  effects.push({ kind: 'event', type: 'narrative.fragment_completed', data: { fragment_key: f.key, level: f.level, besitos_awarded: earnedBy(grants) } });
}

function completeLevel(content: ContentIndex, p: Progress, level: number, effects: Effect[]): void {
  if (p.levelsCompleted.includes(level)) return;
  p.levelsCompleted = addNum(p.levelsCompleted, level);
  const done = content.fragmentsOf(level).filter((x) => p.completed.includes(x.key)).length;
  effects.push({ kind: 'event', type: 'narrative.level_completed', data: { level, fragments_completed: done } });
}

/** Enters a fragment: visit count, position, level, events; a fragment with no way on is completed at once. */
function enter(content: ContentIndex, p: Progress, key: string, effects: Effect[]): { levelIntro: number | null; secret: boolean } {
  const f = content.fragment(key)!;
  const levelIntro = f.level !== p.currentLevel && f.level > p.level ? f.level : null;
  p.visits[key] = (p.visits[key] ?? 0) + 1;
  p.current = key;
  p.currentLevel = f.level;
  p.level = Math.max(p.level, f.level);
  p.step += 1;
  p.tries = 0;
  effects.push({ kind: 'event', type: 'narrative.fragment_started', data: { fragment_key: key, level: f.level } });
  const secret = f.secret && !p.secrets.includes(key);
  if (secret) p.secrets = addTo(p.secrets, key);
  if (secret) effects.push({ kind: 'event', type: 'narrative.secret_discovered', data: { secret_key: key, fragment_key: key } });
  const wayOn = f.decisions.length > 0 || Boolean(f.next) || Boolean(f.game);
  if (f.ending || !wayOn) {
    complete(content, p, f, effects);
    if (f.ending) completeLevel(content, p, f.level, effects);
  }
  return { levelIntro, secret };
}

/**
 * Leaves the current fragment for `to`: completes it, completes its level when the way leads to a
 * higher one, enters `to`. Refuses (nothing changes) when `to` is locked.
 */
/** The progress as it will be when the user leaves the current fragment (it counts as completed): locks are judged on it. */
function leaving(p: Progress): Progress {
  const q = clone(p);
  if (q.current) q.completed = addTo(q.completed, q.current);
  return q;
}

function move(content: ContentIndex, p: Progress, player: Player, to: string, via: Via, effects: Effect[], notice: Notice | null = null): Outcome {
  const lock = fragmentLock(content, leaving(p), player, to);
  if (lock) return { refused: 'locked', target: to, reasons: lock.reasons, price: lock.price, vip: lock.vip, via };
  const from = content.fragment(p.current!)!;
  complete(content, p, from, effects);
  const target = content.fragment(to)!;
  if (target.level > from.level) completeLevel(content, p, from.level, effects);
  const { levelIntro, secret } = enter(content, p, to, effects);
  return { progress: p, effects, screen: screenOf(content, p, rewarded(player, effects), { levelIntro, earned: earnedBy(effects), notice: notice ?? (secret ? { kind: 'secret' } : null) }) };
}

// ---------------------------------------------------------------------------------------------
// Relocation after a content change

/**
 * Brings progress to the active content version. When the current fragment no longer exists the
 * user goes to the nearest safe fragment (lib/content relocate: the first open fragment of their
 * level, else the start), with a notice. Any version
 * change bumps the step: buttons drawn from the older version move nothing.
 */
export function sync(content: ContentIndex, p: Progress): { progress: Progress; relocated: boolean; effects: Effect[] } {
  const version = content.version.hash;
  if (p.version === version) return { progress: p, relocated: false, effects: [] };
  const q = clone(p);
  q.version = version;
  q.step += 1;
  if (q.current === null || content.fragment(q.current)) {
    if (q.current) q.currentLevel = content.fragment(q.current)!.level;
    return { progress: q, relocated: false, effects: [] };
  }
  const target = relocate(content, { fragment: q.current, level: q.currentLevel }).fragment;
  const effects: Effect[] = [];
  q.current = null;
  enter(content, q, target, effects);
  return { progress: q, relocated: true, effects };
}

// ---------------------------------------------------------------------------------------------
// Actions

export type Action =
  /** /historia: continue where the user is, or start. */
  | { type: 'open' }
  /** A button: a decision (index) or "Continuar", drawn at `step` of content `version`. */
  | { type: 'press'; version: string; step: number; via: Via }
  /** Confirmation of a premium unlock for the move `via` drawn at `step`. */
  | { type: 'unlock'; version: string; step: number; via: Via }
  /** A riddle answer typed as text (no step: it answers the fragment being read). */
  | { type: 'riddle'; text: string }
  /** The dice value Telegram returned for a throw at `step`. */
  | { type: 'dice'; version: string; step: number; value: number };

/** Applies an action. `progress` null: the user never started. */
export function decide(content: ContentIndex, stored: Progress | null, player: Player, action: Action): Outcome {
  if (!stored || stored.current === null) {
    if (action.type !== 'open') return { refused: 'not_started' };
    const p = stored ? clone(stored) : newProgress(content.version.hash);
    p.version = content.version.hash;
    const effects: Effect[] = [];
    const lock = fragmentLock(content, p, player, content.start);
    if (lock) return { refused: 'locked', target: content.start, reasons: lock.reasons, price: lock.price, vip: lock.vip, via: { kind: 'continue' } };
    const { levelIntro } = enter(content, p, content.start, effects);
    return { progress: p, effects, screen: screenOf(content, p, rewarded(player, effects), { levelIntro, earned: earnedBy(effects) }) };
  }
  const synced = sync(content, stored);
  const p = synced.progress === stored ? clone(stored) : synced.progress;
  const effects = [...synced.effects];
  if (action.type === 'open') {
    return { progress: p, effects, screen: screenOf(content, p, player, { notice: synced.relocated ? { kind: 'relocated' } : null, earned: earnedBy(effects) }) };
  }
  if (action.type === 'riddle') return answerRiddle(content, p, player, action.text, effects);
  if (action.version !== content.version.hash) return { refused: 'old_version' };
  if (action.step !== p.step) return { refused: 'stale' };
  const f = content.fragment(p.current!)!;
  if (action.type === 'dice') return throwDice(content, p, player, f, action.value, effects);
  const target = targetOf(content, p, player, f, action.via);
  if (!target) return { refused: 'unavailable' };
  if (action.type === 'unlock') {
    // Apply the decision's flags before judging the lock, exactly as the move itself will.
    const trial = leaving(p);
    if (target.decision) applyFlags(trial, target.decision);
    const lock = fragmentLock(content, trial, player, target.next);
    if (!lock) return press(content, p, player, f, action.via, target, effects);
    if (lock.price === null) return { refused: 'locked', target: target.next, reasons: lock.reasons, price: null, vip: lock.vip, via: action.via };
    const subject = premiumSubject(content, trial, player, target.next)!;
    effects.push({ kind: 'spend', amount: lock.price, subject, description: `Desbloqueo: ${content.fragment(target.next)!.title}` });
    p.paid = addTo(p.paid, subject);
    return press(content, p, player, f, action.via, target, effects, { kind: 'premium_paid', price: lock.price });
  }
  return press(content, p, player, f, action.via, target, effects);
}

type Target = { next: string; decision: Fragment['decisions'][number] | null };

function targetOf(content: ContentIndex, p: Progress, player: Player, f: Fragment, via: Via): Target | null {
  if (via.kind === 'continue') return f.type === 'story' && f.next ? { next: f.next, decision: null } : null;
  if (f.type !== 'decision') return null;
  const d = f.decisions[via.index];
  if (!d || !visibleDecisions(content, p, player, f).some((v) => v.index === via.index)) return null;
  return { next: d.next, decision: d };
}

function applyFlags(p: Progress, d: Fragment['decisions'][number]): void {
  for (const flag of d.flags.set) p.flags = addTo(p.flags, flag);
  p.flags = p.flags.filter((x) => !d.flags.clear.includes(x) || d.flags.set.includes(x));
}

function press(content: ContentIndex, p: Progress, player: Player, f: Fragment, via: Via, t: Target, effects: Effect[], notice: Notice | null = null): Outcome {
  if (t.decision) {
    const d = t.decision;
    const id = `${f.key}/${d.key}`;
    const first = !p.taken.includes(id);
    applyFlags(p, d);
    p.taken = addTo(p.taken, id);
    if (first) effects.push(...grantOf(d.rewards, `decision:${id}`, `Decisión: ${d.label}`));
    effects.push({ kind: 'event', type: 'narrative.decision_made', data: { fragment_key: f.key, decision_key: d.key, next_fragment_key: d.next } });
  }
  return move(content, p, player, t.next, via, effects, notice);
}

function answerRiddle(content: ContentIndex, p: Progress, player: Player, text: string, effects: Effect[]): Outcome {
  const f = content.fragment(p.current!)!;
  if (f.game?.kind !== 'riddle') return { refused: 'not_a_game' };
  const game = f.game;
  if (riddleMatches(game, text)) {
    effects.push(...grantOf(game.success.rewards, `riddle:${f.key}`, `Acertijo: ${f.title}`));
    return move(content, p, player, game.success.next, { kind: 'continue' }, effects);
  }
  p.tries += 1;
  if (game.attempts !== undefined && p.tries >= game.attempts && game.failure) {
    effects.push(...grantOf(game.failure.rewards, `riddle-failed:${f.key}`, `Acertijo: ${f.title}`));
    return move(content, p, player, game.failure.next, { kind: 'continue' }, effects);
  }
  const triesLeft = game.attempts === undefined ? null : Math.max(0, game.attempts - p.tries);
  return { progress: p, effects, screen: screenOf(content, p, player, { notice: { kind: 'riddle_wrong', hint: game.hint ?? null, triesLeft } }) };
}

function throwDice(content: ContentIndex, p: Progress, player: Player, f: Fragment, value: number, effects: Effect[]): Outcome {
  if (f.game?.kind !== 'dice') return { refused: 'not_a_game' };
  const branch = f.game.branches.find((b) => b.min <= value && value <= b.max);
  if (!branch) return { refused: 'unavailable' };
  effects.push(...grantOf(branch.rewards, `dice:${f.key}`, `Dados: ${f.title}`));
  return move(content, p, player, branch.next, { kind: 'continue' }, effects);
}

// ---------------------------------------------------------------------------------------------
// Level map and trivia

export interface LevelEntry {
  number: number;
  title: string;
  vip: boolean;
  /** null: open. */
  lock: Lock | null;
  done: number;
  total: number;
  completed: boolean;
}

/** /niveles: every level, open or locked with its reasons, and x/y fragments completed. */
export function levelMap(content: ContentIndex, p: Progress | null, player: Player): LevelEntry[] {
  const q = p ?? newProgress(content.version.hash);
  return content.listLevels().map((l) => {
    const fragments = content.fragmentsOf(l.number);
    const entered = q.level >= l.number && fragments.some((f) => q.visits[f.key]);
    return {
      number: l.number,
      title: l.title,
      vip: l.vip,
      lock: entered && !(l.vip && !player.vip) ? null : levelLock(content, q, player, l.number),
      done: fragments.filter((f) => q.completed.includes(f.key)).length,
      total: fragments.length,
      completed: q.levelsCompleted.includes(l.number),
    };
  });
}

/** Trivia the user may answer now: unlocked by a completed fragment (or from the start). */
export function availableTrivia(content: ContentIndex, p: Progress | null): Trivia[] {
  const completed = new Set(p?.completed ?? []);
  return content.listTrivia().filter((t) => !t.availableAfter || completed.has(t.availableAfter));
}

export interface TriviaVerdict {
  correct: boolean;
  /** Answered after the time limit (measured on the server from when the question was sent): no reward. */
  late: boolean;
  rewards: Rewards | null;
  responseMs: number;
}

/** Judges an answer to a question sent at `askedAt`. */
export function judgeTrivia(t: Trivia, option: number, askedAt: Date, now: Date): TriviaVerdict {
  const responseMs = Math.max(0, now.getTime() - askedAt.getTime());
  const correct = t.options[option] === t.answer;
  const late = responseMs > t.timeLimitSeconds * 1000;
  return { correct, late, rewards: late ? null : correct ? t.rewards.correct : t.rewards.incorrect, responseMs };
}
