import { describe, expect, it } from 'vitest';
import {
  availableTrivia,
  decide,
  isRefusal,
  judgeTrivia,
  levelMap,
  newProgress,
  type Action,
  type Effect,
  type Moved,
  type Outcome,
  type Player,
  type Progress,
  type Via,
} from '../../lib/narrative/rules.js';
import { fixtureIndex } from '../support/story-fixture.js';

const content = fixtureIndex();
const V = content.version.hash;
const free: Player = { vip: false, besitos: 100 };
const vip: Player = { vip: true, besitos: 100 };

function moved(o: Outcome): Moved {
  if (isRefusal(o)) throw new Error(`refused: ${JSON.stringify(o)}`);
  return o;
}
const events = (o: Moved) => o.effects.filter((e): e is Extract<Effect, { kind: 'event' }> => e.kind === 'event').map((e) => e.type);
const grants = (o: Moved) => o.effects.filter((e): e is Extract<Effect, { kind: 'grant' }> => e.kind === 'grant').map((e) => [e.reason, e.amount]);
const press = (p: Progress, via: Via, version = V): Extract<Action, { type: 'press' }> => ({ type: 'press', version, step: p.step, via });
const cont = (p: Progress) => press(p, { kind: 'continue' });
const choose = (p: Progress, index: number) => press(p, { kind: 'decision', index });

/** Progress standing at `key` (entered once), with extra fields. */
function at(key: string, over: Partial<Progress> = {}): Progress {
  const f = content.fragment(key)!;
  return { ...newProgress(V), current: key, currentLevel: f.level, level: f.level, step: 7, visits: { [key]: 1 }, ...over };
}

describe('narrative engine: start and continue', () => {
  it('opening without progress enters the start fragment: position, visit, event, level intro', () => {
    const o = moved(decide(content, null, free, { type: 'open' }));
    expect(o.progress).toMatchObject({ current: 'a', currentLevel: 1, level: 1, step: 1, visits: { a: 1 }, version: V });
    expect(events(o)).toEqual(['narrative.fragment_started']);
    expect(o.screen).toMatchObject({ fragment: 'a', canContinue: true, decisions: [], levelIntro: 1, step: 1 });
  });

  it('opening again continues where the user is, changing nothing', () => {
    const p = at('b');
    const o = moved(decide(content, p, free, { type: 'open' }));
    expect(o.progress).toEqual(p);
    expect(o.effects).toEqual([]);
    expect(o.screen.fragment).toBe('b');
  });

  it('Continuar completes the fragment once (rewards the first time only) and enters the next', () => {
    const first = moved(decide(content, at('a'), free, cont(at('a'))));
    expect(first.progress).toMatchObject({ current: 'b', completed: ['a'], step: 8 });
    expect(grants(first)).toEqual([['fragment:a', 5]]);
    expect(events(first)).toEqual(['narrative.fragment_completed', 'narrative.fragment_started']);
    expect(first.screen.earned).toBe(5);
    const again = at('a', { completed: ['a'], visits: { a: 2 } });
    expect(grants(moved(decide(content, again, free, cont(again))))).toEqual([]);
  });

  it('a button of an earlier screen, of another content version or of nothing moves nothing', () => {
    const p = at('a');
    expect(decide(content, p, free, { ...cont(p), step: p.step - 1 })).toEqual({ refused: 'stale' });
    expect(decide(content, p, free, { ...cont(p), version: 'other' })).toEqual({ refused: 'old_version' });
    expect(decide(content, p, free, choose(p, 0))).toEqual({ refused: 'unavailable' }); // a story fragment has no decisions
    expect(decide(content, at('b'), free, choose(at('b'), 42))).toEqual({ refused: 'unavailable' });
    expect(decide(content, null, free, cont(p))).toEqual({ refused: 'not_started' });
  });
});

describe('narrative engine: decisions', () => {
  it('shows only decisions whose conditions hold (all / any / not) and not yet taken once-only ones', () => {
    const p = at('b');
    expect(moved(decide(content, p, free, { type: 'open' })).screen.decisions.map((d) => d.index)).toEqual([0, 1, 3]);
    const keyed = at('b', { flags: ['llave'], taken: ['b/jardin'] });
    expect(moved(decide(content, keyed, free, { type: 'open' })).screen.decisions.map((d) => d.index)).toEqual([1, 2, 3]);
    const broken = at('b', { flags: ['llave', 'rota', 'y'] });
    expect(moved(decide(content, broken, free, { type: 'open' })).screen.decisions.map((d) => d.index)).toEqual([0, 1, 3, 4]);
  });

  it('a once-only decision: flags set, rewards, event; afterwards it is gone and pressing it moves nothing', () => {
    const p = at('b');
    const o = moved(decide(content, p, free, choose(p, 0)));
    expect(o.progress).toMatchObject({ current: 'c', flags: ['jardin'], taken: ['b/jardin'], completed: ['b'] });
    expect(grants(o)).toEqual([['decision:b/jardin', 3]]);
    expect(events(o)).toEqual(['narrative.decision_made', 'narrative.fragment_completed', 'narrative.fragment_started']);
    const decision = o.effects.find((e) => e.kind === 'event' && e.type === 'narrative.decision_made');
    expect(decision).toMatchObject({ data: { fragment_key: 'b', decision_key: 'jardin', next_fragment_key: 'c' } });
    const back = at('b', { taken: ['b/jardin'], flags: ['jardin'] });
    expect(decide(content, back, free, choose(back, 0))).toEqual({ refused: 'unavailable' });
  });

  it('a repeatable decision clears flags and can be taken again; its rewards come the first time only', () => {
    const p = at('b', { flags: ['jardin', 'llave'], completed: ['a'] });
    const o = moved(decide(content, p, free, choose(p, 1)));
    expect(o.progress).toMatchObject({ current: 'a', flags: ['llave'], visits: { a: 1, b: 1 } });
    const again = at('b', { taken: ['b/volver'], completed: ['a', 'b'] });
    const o2 = moved(decide(content, again, free, choose(again, 1)));
    expect(o2.progress.current).toBe('a');
    expect(grants(o2)).toEqual([]);
  });

  it('a secret: discovered on the first visit only, with its event and notice', () => {
    const p = at('b', { flags: ['llave'] });
    const o = moved(decide(content, p, free, choose(p, 2)));
    expect(events(o)).toContain('narrative.secret_discovered');
    expect(o.screen.notice).toEqual({ kind: 'secret' });
    const twice = at('b', { flags: ['llave'], visits: { b: 1, s: 1 }, secrets: ['s'] });
    const o2 = moved(decide(content, twice, free, choose(twice, 2)));
    expect(events(o2)).not.toContain('narrative.secret_discovered');
    expect(o2.progress.visits.s).toBe(2);
  });
});

describe('narrative engine: premium, levels, VIP', () => {
  it('a premium fragment is locked with its price; unlocking spends once and enters; once paid it stays open', () => {
    const p = at('b');
    const locked = decide(content, p, free, choose(p, 3));
    expect(locked).toMatchObject({ refused: 'locked', target: 'p', price: 30, vip: false });
    expect((locked as { reasons: string[] }).reasons[0]).toMatch(/Cuesta 30 besitos/);
    const o = moved(decide(content, p, free, { type: 'unlock', version: V, step: p.step, via: { kind: 'decision', index: 3 } }));
    expect(o.effects.filter((e) => e.kind === 'spend')).toEqual([{ kind: 'spend', amount: 30, subject: 'fragment:p', description: 'Desbloqueo: Camerino' }]);
    expect(o.progress).toMatchObject({ current: 'p', paid: ['fragment:p'] });
    expect(o.screen.notice).toEqual({ kind: 'premium_paid', price: 30 });
    // Paid: the decision now just moves; a second "unlock" of it spends nothing.
    const paid = at('b', { paid: ['fragment:p'] });
    expect(moved(decide(content, paid, free, choose(paid, 3))).effects.some((e) => e.kind === 'spend')).toBe(false);
    expect(moved(decide(content, paid, free, { type: 'unlock', version: V, step: paid.step, via: { kind: 'decision', index: 3 } })).effects.some((e) => e.kind === 'spend')).toBe(false);
    // A stale confirmation (pressed twice: the second is an earlier screen) spends nothing.
    expect(decide(content, o.progress, free, { type: 'unlock', version: V, step: p.step, via: { kind: 'decision', index: 3 } })).toEqual({ refused: 'stale' });
  });

  it('a level with an unlock condition: locked with the Spanish reason, nothing moves; open once it holds', () => {
    const p = at('d');
    const r = decide(content, p, free, { type: 'dice', version: V, step: p.step, value: 2 });
    expect(r).toMatchObject({ refused: 'locked', target: 'e', price: null });
    expect((r as { reasons: string[] }).reasons).toEqual(['Se abre con una decisión que aún no has tomado.']);
    const ok = at('d', { flags: ['jardin'] });
    const o = moved(decide(content, ok, free, { type: 'dice', version: V, step: ok.step, value: 2 }));
    expect(o.progress).toMatchObject({ current: 'e', level: 2, levelsCompleted: [1] });
    expect(o.screen.levelIntro).toBe(2);
    expect(events(o)).toEqual(['narrative.fragment_completed', 'narrative.level_completed', 'narrative.fragment_started']);
    expect(grants(o)).toEqual([['dice:d', 2]]);
  });

  it('a VIP level is locked for free users with a pointer to /vip, and open to VIP users', () => {
    const p = at('e', { level: 2 });
    const r = decide(content, p, free, cont(p));
    expect(r).toMatchObject({ refused: 'locked', target: 'g', vip: true, price: null });
    expect((r as { reasons: string[] }).reasons.join(' ')).toMatch(/\/vip/);
    const o = moved(decide(content, p, vip, cont(p)));
    expect(o.progress).toMatchObject({ current: 'g', level: 3 });
    expect(o.screen.ending).toBe(true);
    // An ending completes itself and its level.
    expect(o.progress.completed).toContain('g');
    expect(o.progress.levelsCompleted).toEqual([2, 3]);
  });

  it('the level map: open / locked with reasons, x/y fragments', () => {
    const p = at('d', { completed: ['a', 'b', 'c'] });
    const map = levelMap(content, p, free);
    expect(map.map((l) => [l.number, l.lock === null, l.done, l.total])).toEqual([[1, true, 3, 6], [2, false, 0, 2], [3, false, 0, 1]]);
    expect(map[2]!.lock!.vip).toBe(true);
    expect(map[1]!.lock!.reasons).toEqual(['Se abre con una decisión que aún no has tomado.']);
    expect(levelMap(content, p, vip)[2]!.lock).toBeNull();
  });
});

describe('narrative engine: mini-games', () => {
  it('a riddle: normalised match (case, accents, spaces) → success branch and its reward', () => {
    const o = moved(decide(content, at('c'), free, { type: 'riddle', text: '  LA   Lúna ' }));
    expect(o.progress.current).toBe('d');
    expect(grants(o)).toEqual([['riddle:c', 7]]);
  });

  it('a riddle: wrong answers count, hint and tries left; the last failure takes the failure branch', () => {
    const o = moved(decide(content, at('c'), free, { type: 'riddle', text: 'el sol' }));
    expect(o.progress).toMatchObject({ current: 'c', tries: 1, step: 7 });
    expect(o.screen.notice).toEqual({ kind: 'riddle_wrong', hint: 'Mira arriba.', triesLeft: 1 });
    const o2 = moved(decide(content, o.progress, free, { type: 'riddle', text: 'estrella' }));
    expect(o2.progress).toMatchObject({ current: 'd', tries: 0 });
    expect(grants(o2)).toEqual([['riddle-failed:c', 1]]);
  });

  it('a riddle: 4,096 characters or emoji only are just wrong answers', () => {
    expect(moved(decide(content, at('c'), free, { type: 'riddle', text: 'x'.repeat(4096) })).progress.tries).toBe(1);
    expect(moved(decide(content, at('c'), free, { type: 'riddle', text: '🌙🌙' })).progress.tries).toBe(1);
    expect(decide(content, at('a'), free, { type: 'riddle', text: 'la luna' })).toEqual({ refused: 'not_a_game' });
  });

  it('dice: the value picks the branch; an impossible value or a dice outside a dice fragment moves nothing', () => {
    const p = at('d', { flags: ['jardin'] });
    const o = moved(decide(content, p, free, { type: 'dice', version: V, step: p.step, value: 5 }));
    expect(o.progress.current).toBe('f');
    // An ending completes at once, with its rewards (d itself grants nothing on completion).
    expect(grants(o)).toEqual([['dice:d', 4], ['fragment:f', 10]]);
    expect(o.progress.completed).toEqual(['d', 'f']);
    expect(decide(content, p, free, { type: 'dice', version: V, step: p.step, value: 9 })).toEqual({ refused: 'unavailable' });
    expect(decide(content, at('a'), free, { type: 'dice', version: V, step: 7, value: 3 })).toEqual({ refused: 'not_a_game' });
  });
});

describe('narrative engine: content changes', () => {
  it('the current fragment removed → the first fragment of its level, notice, old buttons dead', () => {
    const v2 = fixtureIndex((raw) => {
      raw.fragments = raw.fragments.filter((f: { key: string }) => f.key !== 'c');
      raw.fragments.find((f: { key: string }) => f.key === 'b').decisions[0].next = 'd';
    });
    const p = at('c', { completed: ['a', 'b'] });
    const o = moved(decide(content === v2 ? content : v2, p, free, { type: 'open' }));
    expect(o.progress).toMatchObject({ current: 'a', version: v2.version.hash, completed: ['a', 'b'] });
    expect(o.progress.step).toBeGreaterThan(p.step);
    expect(o.screen.notice).toEqual({ kind: 'relocated' });
    expect(decide(v2, p, free, { type: 'riddle', text: 'la luna' })).toMatchObject({ refused: 'not_a_game' });
    expect(decide(v2, at('b'), free, choose(at('b'), 0))).toEqual({ refused: 'old_version' });
  });

  it('a removed level → the start; a kept fragment keeps its place but earlier buttons are refused', () => {
    const v2 = fixtureIndex((raw) => {
      raw.levels = raw.levels.filter((l: { number: number }) => l.number !== 3);
      raw.fragments = raw.fragments.filter((f: { key: string }) => f.key !== 'g');
      raw.fragments.find((f: { key: string }) => f.key === 'e').next = 'f';
    });
    const o = moved(decide(v2, at('g'), vip, { type: 'open' }));
    expect(o.progress.current).toBe('a');
    const kept = moved(decide(v2, at('b'), free, { type: 'open' }));
    expect(kept.progress).toMatchObject({ current: 'b', version: v2.version.hash, step: 8 });
    expect(kept.screen.notice).toBeNull();
    expect(decide(v2, kept.progress, free, { type: 'press', version: V, step: 8, via: { kind: 'decision', index: 0 } })).toEqual({ refused: 'old_version' });
  });
});

describe('trivia rules', () => {
  it('questions become available after their fragment', () => {
    expect(availableTrivia(content, null).map((t) => t.key)).toEqual(['t2']);
    expect(availableTrivia(content, at('b', { completed: ['a'] })).map((t) => t.key)).toEqual(['t1', 't2']);
  });

  it('correct, incorrect and late answers (time measured on the server)', () => {
    const t = content.triviaQuestion('t1')!;
    const asked = new Date('2026-01-01T00:00:00Z');
    const at = (s: number) => new Date(asked.getTime() + s * 1000);
    expect(judgeTrivia(t, 1, asked, at(5))).toEqual({ correct: true, late: false, rewards: t.rewards.correct, responseMs: 5000 });
    expect(judgeTrivia(t, 0, asked, at(5))).toMatchObject({ correct: false, late: false, rewards: t.rewards.incorrect });
    expect(judgeTrivia(t, 1, asked, at(31))).toMatchObject({ correct: true, late: true, rewards: null });
    expect(judgeTrivia(t, 1, asked, at(30))).toMatchObject({ late: false });
  });
});

describe('narrative engine: a level opened by the fragment being left', () => {
  it('completing the fragment that opens the next level is enough to enter it', () => {
    const v = fixtureIndex((raw) => {
      raw.levels[1].unlock = { kind: 'fragment_completed', fragment: 'd' };
    });
    const p = { ...newProgress(v.version.hash), current: 'd', currentLevel: 1, level: 1, step: 3, visits: { d: 1 } };
    const o = moved(decide(v, p, free, { type: 'dice', version: v.version.hash, step: 3, value: 1 }));
    expect(o.progress).toMatchObject({ current: 'e', level: 2, completed: ['d'] });
  });
});
