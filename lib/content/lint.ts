import { conditions, emptyConditionState, type Condition } from '../conditions/index.js';
import { readContentDir, type RawContent } from './file.js';
import { crossCheck, fragmentTargets, schemaProblems, type Content } from './schema.js';

/**
 * The story linter (`npm run lint:story`): everything that makes content wrong or unplayable, each
 * problem with its file and key. Errors stop an import and fail CI; warnings are printed only.
 */

export type LintSeverity = 'error' | 'warning';

export type LintCode =
  | 'file' // unreadable file, bad JSON, a field set twice
  | 'schema' // the zod schema refuses an item
  | 'reference' // a key that does not exist, duplicates, shapes the bot cannot run (crossCheck)
  | 'unreachable' // no path from the start leads here
  | 'dead_end' // no way on and not marked ending
  | 'impossible_condition' // can never hold (a flag nobody sets, a level or fragment that does not exist)
  | 'always_true' // a condition that always holds (a flag nobody sets, negated)
  | 'reward_cap' // more besitos in one fragment than the economy allows
  | 'vip_rewards' // a VIP level granting less than 20 besitos (seed rule)
  | 'trivia_answer' // the answer is not one of the options
  | 'media_url' // media not served over https
  | 'empty_level' // a level without fragments
  | 'never_shown' // on no path through the story does this decision's `show` hold
  | 'never_unlocked'; // on no path through the story can this fragment be entered (its lock, or every way to it, blocked)

export interface LintProblem {
  severity: LintSeverity;
  code: LintCode;
  /** The file the item comes from, relative to the content folder ('' when it has no single file). */
  file: string;
  /** The item: `fragment jardin`, `fragment jardin decision paseo`, `trivia flor`, `level 3` … */
  where: string;
  message: string;
}

export interface LintOptions {
  /** Most besitos one fragment may grant: completion + its best decision or game branch (default 50). */
  maxFragmentBesitos?: number;
  /** Least besitos a VIP level must grant over all its fragments (seed: 20). */
  minVipLevelBesitos?: number;
}

export const DEFAULT_MAX_FRAGMENT_BESITOS = 50;
export const MIN_VIP_LEVEL_BESITOS = 20;

/** Reads a content folder and lints it. */
export async function lintContentDir(dir: string, opts: LintOptions = {}): Promise<LintProblem[]> {
  return lintRaw(await readContentDir(dir), opts);
}

/** Lints merged raw content (see readContentDir), mapping every problem to its file. */
export function lintRaw(raw: RawContent, opts: LintOptions = {}): LintProblem[] {
  const problems: LintProblem[] = raw.problems.map((p) => ({ severity: 'error', code: 'file', file: p.file, where: '(file)', message: p.message }));
  const fileOf = locator(raw);
  const { content, problems: schema } = schemaProblems(raw.raw);
  if (!content) {
    for (const p of schema) {
      const { file, where } = fileOf.path(p.where);
      problems.push({ severity: 'error', code: 'schema', file, where, message: p.message });
    }
    return sortProblems(problems);
  }
  for (const p of crossCheck(content)) {
    const code: LintCode = p.message.includes('is not one of its options') ? 'trivia_answer' : 'reference';
    problems.push({ severity: 'error', code, file: fileOf.where(p.where), where: p.where, message: p.message });
  }
  for (const p of lintStory(content, opts)) problems.push({ ...p, file: fileOf.where(p.where) });
  return sortProblems(problems);
}

/** The story-level checks on valid content (no files involved; `file` is filled by the caller). */
export function lintStory(c: Content, opts: LintOptions = {}): Omit<LintProblem, 'file'>[] {
  const maxBesitos = opts.maxFragmentBesitos ?? DEFAULT_MAX_FRAGMENT_BESITOS;
  const minVip = opts.minVipLevelBesitos ?? MIN_VIP_LEVEL_BESITOS;
  const out: Omit<LintProblem, 'file'>[] = [];
  const add = (severity: LintSeverity, code: LintCode, where: string, message: string) => out.push({ severity, code, where, message });
  const byKey = new Map(c.fragments.map((f) => [f.key, f]));
  const levels = new Set(c.levels.map((l) => l.number));

  // Reachability from the start, through decisions, `next` and game branches.
  const seen = new Set<string>();
  const queue = byKey.has(c.start) ? [c.start] : [];
  while (queue.length) {
    const key = queue.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const t of fragmentTargets(byKey.get(key)!)) if (byKey.has(t) && !seen.has(t)) queue.push(t);
  }
  for (const f of c.fragments) {
    const where = `fragment ${f.key}`;
    if (!seen.has(f.key)) add('error', 'unreachable', where, `no path from the start ("${c.start}") leads here`);
    const targets = fragmentTargets(f);
    if (targets.length === 0 && !f.ending) add('error', 'dead_end', where, 'has no way on (no decisions, next or game) and is not marked "ending": true');
    if (targets.length > 0 && f.ending) add('warning', 'dead_end', where, 'is marked "ending" but also leads on');
  }

  // Conditions that can never hold (or always do): flags nobody sets, levels/fragments that don't exist.
  const setFlags = new Set(c.fragments.flatMap((f) => f.decisions.flatMap((d) => d.flags.set)));
  const checkCondition = (where: string, cond: Condition | undefined) => {
    if (!cond) return;
    for (const flag of conditions.refs(cond).flags) {
      if (setFlags.has(flag)) continue;
      const positive = mentionsFlag(cond, flag, true);
      if (positive) add('error', 'impossible_condition', where, `needs flag "${flag}", which no decision sets: it can never hold`);
      else add('warning', 'always_true', where, `checks that flag "${flag}" is not set, but no decision sets it: it always holds`);
    }
    for (const level of conditions.refs(cond).levels) {
      if (!levels.has(level)) add('error', 'impossible_condition', where, `needs level ${level}, which does not exist: it can never hold`);
    }
    for (const key of conditions.refs(cond).fragments) {
      if (!byKey.has(key)) add('error', 'impossible_condition', where, `needs fragment "${key}" completed, which does not exist: it can never hold`);
    }
  };
  for (const l of c.levels) checkCondition(`level ${l.number}`, l.unlock);
  for (const f of c.fragments) {
    checkCondition(`fragment ${f.key}`, f.unlock);
    for (const d of f.decisions) checkCondition(`fragment ${f.key} decision ${d.key}`, d.show);
  }

  // The economy: per-fragment cap, and VIP levels worth at least 20 besitos.
  const levelBesitos = new Map<number, number>();
  for (const f of c.fragments) {
    const branches = [
      ...f.decisions.map((d) => d.rewards.besitos),
      ...(f.game?.kind === 'riddle' ? [f.game.success.rewards.besitos, f.game.failure?.rewards.besitos ?? 0] : []),
      ...(f.game?.kind === 'dice' ? f.game.branches.map((b) => b.rewards.besitos) : []),
    ];
    const most = f.rewards.besitos + Math.max(0, ...branches);
    if (most > maxBesitos) add('error', 'reward_cap', `fragment ${f.key}`, `can grant ${most} besitos (completion ${f.rewards.besitos} + best choice ${most - f.rewards.besitos}); the cap is ${maxBesitos} per fragment`);
    levelBesitos.set(f.level, (levelBesitos.get(f.level) ?? 0) + most);
  }
  for (const l of c.levels) {
    const n = c.fragments.filter((f) => f.level === l.number).length;
    if (n === 0) add('warning', 'empty_level', `level ${l.number}`, 'has no fragments');
    const total = levelBesitos.get(l.number) ?? 0;
    if (l.vip && total < minVip) add('error', 'vip_rewards', `level ${l.number}`, `is VIP but grants at most ${total} besitos over the level; VIP levels must grant at least ${minVip}`);
  }

  out.push(...pathChecks(c, seen));

  // Media must be https (Telegram fetches it; plain http is refused or leaks).
  for (const f of c.fragments) {
    if (f.media?.url && !f.media.url.startsWith('https://')) add('error', 'media_url', `fragment ${f.key}`, `media URL "${f.media.url}" is not https`);
  }
  return out;
}

/** States explored by the path check before it gives up (a story that large is checked by the other rules only). */
const MAX_PATH_STATES = 20_000;

/**
 * Plays every path through the story with the flags and completed fragments it really carries
 * (VIP, premium payments and besitos assumed granted, so only what no player can ever have is
 * reported): decisions whose `show` holds on no path, fragments whose `unlock` holds on no path that
 * reaches them. Warnings: an author may mean them for a later version of the story.
 */
function pathChecks(c: Content, graphReachable: Set<string>): Omit<LintProblem, 'file'>[] {
  const byKey = new Map(c.fragments.map((f) => [f.key, f]));
  if (!byKey.has(c.start)) return [];
  const everything = { has: () => true } as unknown as ReadonlySet<string>;
  // Only what conditions can observe tells two paths apart: the flags and completed fragments that some
  // condition names, and the highest level reached. Everything else about a path is forgotten.
  const refs = [...c.levels.map((l) => l.unlock), ...c.fragments.flatMap((f) => [f.unlock, ...f.decisions.map((d) => d.show)])].map((x) => conditions.refs(x));
  const watched = new Set(refs.flatMap((r) => r.fragments));
  const watchedFlags = new Set(refs.flatMap((r) => r.flags));
  const shown = new Set<string>();
  const entered = new Set<string>();
  const visited = new Set<string>();
  type State = { at: string; flags: Set<string>; completed: Set<string>; level: number };
  const stack: State[] = [{ at: c.start, flags: new Set(), completed: new Set(), level: 0 }];
  while (stack.length) {
    const s = stack.pop()!;
    const id = `${s.at}|${s.level}|${[...s.flags].sort().join(',')}|${[...s.completed].sort().join(',')}`;
    if (visited.has(id)) continue;
    visited.add(id);
    if (visited.size > MAX_PATH_STATES) {
      return [{ severity: 'warning', code: 'never_shown', where: 'start', message: `the story has more than ${MAX_PATH_STATES} path states: the path check was skipped` }];
    }
    const f = byKey.get(s.at)!;
    const level = Math.max(s.level, f.level);
    const state = emptyConditionState({ vip: true, besitos: Number.MAX_SAFE_INTEGER, level, completed: s.completed, flags: s.flags, paid: everything });
    if (f.unlock && !conditions.evaluate(f.unlock, state, { subject: `fragment:${f.key}` })) continue;
    entered.add(f.key);
    const completed = watched.has(f.key) ? new Set(s.completed).add(f.key) : s.completed;
    const go = (next: string, flags = s.flags) => byKey.has(next) && stack.push({ at: next, flags, completed, level });
    for (const d of f.decisions) {
      if (d.show && !conditions.evaluate(d.show, state, { subject: `decision:${f.key}:${d.key}` })) continue;
      shown.add(`${f.key}|${d.key}`);
      const flags = new Set(s.flags);
      for (const x of d.flags.clear) flags.delete(x);
      for (const x of d.flags.set) if (watchedFlags.has(x)) flags.add(x);
      go(d.next, flags);
    }
    for (const t of fragmentTargets({ ...f, decisions: [] })) go(t);
  }
  const out: Omit<LintProblem, 'file'>[] = [];
  for (const f of c.fragments) {
    if (!graphReachable.has(f.key)) continue; // already an error
    if (!entered.has(f.key)) {
      const message = f.unlock
        ? 'its unlock condition holds on no path that reaches it: no player can enter it'
        : 'every way here passes a lock or a hidden decision that no player gets past: no player can enter it';
      out.push({ severity: 'warning', code: 'never_unlocked', where: `fragment ${f.key}`, message });
      continue;
    }
    for (const d of f.decisions) {
      if (d.show && !shown.has(`${f.key}|${d.key}`)) {
        out.push({ severity: 'warning', code: 'never_shown', where: `fragment ${f.key} decision ${d.key}`, message: 'its show condition holds on no path through the story: no player will see it' });
      }
    }
  }
  return out;
}

/** Whether `flag` appears in a position where it must be set for the condition to hold. */
function mentionsFlag(c: Condition, flag: string, positive: boolean): boolean {
  switch (c.kind) {
    case 'all':
    case 'any':
      return (c.of as Condition[]).some((x) => mentionsFlag(x, flag, positive));
    case 'not':
      return mentionsFlag(c.condition as Condition, flag, !positive);
    case 'flag_set':
      return c.flag === flag && positive;
    case 'flag_not_set':
      return c.flag === flag && !positive;
    default:
      return false;
  }
}

/** Maps problem locations to files: schema paths (`fragments.3.next`) and item names (`fragment jardin`). */
function locator(raw: RawContent) {
  const byItem = new Map<string, string>();
  const kinds: [string, string, string][] = [
    ['fragments', 'fragment', 'key'],
    ['trivia', 'trivia', 'key'],
    ['levels', 'level', 'number'],
  ];
  for (const [field, name, id] of kinds) {
    const list = raw.raw[field];
    if (!Array.isArray(list)) continue;
    list.forEach((item, i) => {
      const key = item && typeof item === 'object' ? (item as Record<string, unknown>)[id] : undefined;
      if (key !== undefined && !byItem.has(`${name} ${key}`)) byItem.set(`${name} ${key}`, raw.origins[field]?.[i] ?? '');
    });
  }
  return {
    where(where: string): string {
      if (where === 'start') return raw.origins.start?.[0] ?? '';
      const m = /^(fragment|trivia|level) (\S+)/.exec(where);
      return m ? (byItem.get(`${m[1]} ${m[2]}`) ?? '') : '';
    },
    path(path: string): { file: string; where: string } {
      const [field, index, ...rest] = path.split('.');
      const list = raw.raw[field!];
      const i = Number(index);
      if (!Array.isArray(list) || !Number.isInteger(i)) return { file: raw.origins[field!]?.[0] ?? '', where: path };
      const kind = kinds.find((k) => k[0] === field);
      const item = list[i] as Record<string, unknown> | undefined;
      const key = kind && item && typeof item === 'object' ? item[kind[2]] : undefined;
      const name = kind && key !== undefined ? `${kind[1]} ${String(key)}` : `${field}[${i}]`;
      return { file: raw.origins[field!]?.[i] ?? '', where: rest.length ? `${name} ${rest.join('.')}` : name };
    },
  };
}

function sortProblems(list: LintProblem[]): LintProblem[] {
  const rank = (p: LintProblem) => (p.severity === 'error' ? 0 : 1);
  return list.sort((a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file) || a.where.localeCompare(b.where));
}

/** One line per problem: `file  where: message`, errors first, then a summary line. */
export function formatLint(problems: LintProblem[]): string {
  const lines = problems.map((p) => `${p.severity === 'error' ? 'error  ' : 'warning'}  ${p.file || '(content)'}  ${p.where}: ${p.message}  [${p.code}]`);
  const errors = problems.filter((p) => p.severity === 'error').length;
  lines.push(errors || problems.length ? `${errors} error(s), ${problems.length - errors} warning(s)` : 'Story OK: no problems found.');
  return lines.join('\n');
}
