import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { lintContentDir, type LintCode, type LintProblem } from '../../lib/content/lint.js';
import { withContentDir } from '../support/content-files.js';

const base = JSON.parse(readFileSync(new URL('../fixtures/story-lint/base.json', import.meta.url), 'utf8'));
type Raw = typeof base & Record<string, any>;
const clone = (): Raw => structuredClone(base);
const frag = (c: Raw, key: string) => c.fragments.find((f: { key: string }) => f.key === key);

/** Lints content split as the authors do: levels and start in one file, fragments in another, trivia in a third. */
async function lint(c: Raw, opts?: Parameters<typeof lintContentDir>[1]): Promise<LintProblem[]> {
  let out: LintProblem[] = [];
  const { fragments, trivia, ...rest } = c;
  await withContentDir({ 'story/00-niveles.json': rest, 'story/01-fragmentos.json': { fragments }, 'trivia/preguntas.json': { trivia } }, async (dir) => {
    out = await lintContentDir(dir, opts);
  });
  return out;
}
const errors = (ps: LintProblem[]) => ps.filter((p) => p.severity === 'error');
const line = (p: LintProblem) => `${p.code} ${p.file} ${p.where}: ${p.message}`;

describe('story linter', () => {
  it('the fixture base is clean', async () => {
    expect((await lint(clone())).map(line)).toEqual([]);
  });

  // One deliberately broken fixture per defect kind: the problem is found, with its file and key.
  const cases: [string, LintCode, (c: Raw) => void, RegExp][] = [
    ['schema error', 'schema', (c) => (frag(c, 'camino').level = 'uno'), /^schema story\/01-fragmentos\.json fragment camino level: /],
    ['unknown condition kind', 'schema', (c) => (frag(c, 'camino').unlock = { kind: 'luna_llena' }), /^schema story\/01-fragmentos\.json fragment camino unlock\.kind: unknown condition kind "luna_llena"/],
    ['broken next link', 'reference', (c) => (frag(c, 'camino').next = 'fantasma'), /^reference story\/01-fragmentos\.json fragment camino: next fragment "fantasma" does not exist/],
    ['broken decision link', 'reference', (c) => (frag(c, 'inicio').decisions[0].next = 'fantasma'), /^reference story\/01-fragmentos\.json fragment inicio decision si: next fragment "fantasma"/],
    [
      'unreachable fragment',
      'unreachable',
      (c) => c.fragments.push({ key: 'isla', level: 1, title: 'Isla', narrator: 'Diana', text: 'Nadie llega.', ending: true }),
      /^unreachable story\/01-fragmentos\.json fragment isla: no path from the start \("inicio"\)/,
    ],
    ['dead end not marked ending', 'dead_end', (c) => (frag(c, 'final').ending = false), /^dead_end story\/01-fragmentos\.json fragment final: has no way on/],
    [
      'a flag no decision sets',
      'impossible_condition',
      (c) => (frag(c, 'camino').unlock = { kind: 'flag_set', flag: 'nunca' }),
      /^impossible_condition story\/01-fragmentos\.json fragment camino: needs flag "nunca", which no decision sets/,
    ],
    [
      'a decision needing a level that does not exist',
      'impossible_condition',
      (c) => (frag(c, 'inicio').decisions[1].show = { kind: 'level_reached', level: 7 }),
      /^impossible_condition story\/01-fragmentos\.json fragment inicio decision no: needs level 7, which does not exist/,
    ],
    [
      'a level unlock naming a fragment that does not exist',
      'impossible_condition',
      (c) => (c.levels[1].unlock = { kind: 'fragment_completed', fragment: 'fantasma' }),
      /^impossible_condition story\/00-niveles\.json level 2: needs fragment "fantasma" completed/,
    ],
    ['rewards above the per-fragment cap', 'reward_cap', (c) => (frag(c, 'inicio').decisions[0].rewards = { besitos: 60 }), /^reward_cap story\/01-fragmentos\.json fragment inicio: can grant 60 besitos .* the cap is 50/],
    ['VIP level granting less than 20 besitos', 'vip_rewards', (c) => (frag(c, 'vip').rewards = { besitos: 10 }), /^vip_rewards story\/00-niveles\.json level 2: is VIP but grants at most 10 besitos/],
    ['trivia answer not among the options', 'trivia_answer', (c) => (c.trivia[0].answer = 'Narrador'), /^trivia_answer trivia\/preguntas\.json trivia t1: answer "Narrador" is not one of its options/],
    ['media URL not https', 'media_url', (c) => (frag(c, 'vip').media.url = 'http://example.com/diana.jpg'), /^media_url story\/01-fragmentos\.json fragment vip: media URL "http:\/\/example\.com\/diana\.jpg" is not https/],
  ];
  for (const [name, code, breakIt, expected] of cases) {
    it(`finds: ${name}`, async () => {
      const c = clone();
      breakIt(c);
      const found = errors(await lint(c));
      expect(found.map((p) => p.code)).toContain(code);
      expect(found.map(line)).toContainEqual(expect.stringMatching(expected));
    });
  }

  it('the cap is configurable', async () => {
    const c = clone();
    expect(errors(await lint(c, { maxFragmentBesitos: 20 })).map(line)).toEqual([expect.stringMatching(/^reward_cap .* fragment vip: can grant 25 besitos/)]);
  });

  it('a negated condition on a flag nobody sets is a warning (it always holds), not an error', async () => {
    const c = clone();
    frag(c, 'inicio').decisions[1].show = { kind: 'not', condition: { kind: 'flag_set', flag: 'jamas' } };
    const ps = await lint(c);
    expect(errors(ps)).toEqual([]);
    expect(ps.map(line)).toEqual([expect.stringMatching(/^always_true .* fragment inicio decision no: checks that flag "jamas" is not set/)]);
  });

  it('plays every path: a decision no player can see and a fragment no player can enter are warnings', async () => {
    const c = clone();
    // "cobarde" is set only on the way to the ending, so nobody reaching "camino" carries it …
    frag(c, 'inicio').decisions[1].flags = { set: ['cobarde'] };
    frag(c, 'camino').unlock = { kind: 'flag_set', flag: 'cobarde' };
    // … and "valiente" is set by the other choice of the same screen, so "no" would never be offered.
    frag(c, 'inicio').decisions[1].show = { kind: 'flag_set', flag: 'valiente' };
    const ps = await lint(c);
    expect(errors(ps)).toEqual([]);
    expect(ps.map(line)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^never_shown story\/01-fragmentos\.json fragment inicio decision no: its show condition holds on no path/),
        expect.stringMatching(/^never_unlocked story\/01-fragmentos\.json fragment camino: its unlock condition holds on no path/),
        expect.stringMatching(/^never_unlocked story\/01-fragmentos\.json fragment vip: every way here passes a lock or a hidden decision/),
      ]),
    );
  });

  it('reports every problem at once, errors first', async () => {
    const c = clone();
    frag(c, 'final').ending = false;
    c.trivia[0].answer = 'X';
    frag(c, 'vip').media.url = 'http://x.test/a.jpg';
    const ps = await lint(c);
    expect(new Set(errors(ps).map((p) => p.code))).toEqual(new Set(['dead_end', 'trivia_answer', 'media_url']));
  });

  it('the shipped content passes (npm test guards content/)', async () => {
    const { DEFAULT_CONTENT_DIR } = await import('../../lib/content/file.js');
    const ps = await lintContentDir(DEFAULT_CONTENT_DIR);
    expect(errors(ps).map(line)).toEqual([]);
  });

  it('npm run lint:story exits 1 on errors and 0 on warnings only, printing file and key', async () => {
    const run = promisify(execFile);
    const cli = (dir: string) =>
      run(process.execPath, ['--import', 'tsx', 'scripts/lint-story.ts', dir], { cwd: new URL('../..', import.meta.url).pathname }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );
    const broken = clone();
    frag(broken, 'camino').next = 'fantasma';
    await withContentDir({ 'historia.json': broken }, async (dir) => {
      const r = await cli(dir);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/error +historia\.json +fragment camino: next fragment "fantasma" does not exist/);
    });
    const warned = clone();
    frag(warned, 'inicio').decisions[1].show = { kind: 'flag_not_set', flag: 'jamas' };
    await withContentDir({ 'historia.json': warned }, async (dir) => {
      const r = await cli(dir);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/warning +historia\.json +fragment inicio decision no: .*always holds/);
    });
  });
});
