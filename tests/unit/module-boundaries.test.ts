import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Every relative module a file imports (static, re-export, type-only or dynamic), as a path from the repo root. */
export function importsOf(file: string): string[] {
  const src = readFileSync(path.join(root, file), 'utf8');
  const specs = [...src.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => path.normalize(path.join(path.dirname(file), s)).replace(/\.js$/, '.ts'));
}

const reachesUp = (target: string) => target === path.normalize('lib/app.ts') || target.startsWith(path.normalize('lib/bot/'));

/**
 * The bus routes and delivers and knows no module: the app wires the modules' subscribers into it
 * (lib/app.ts) and api/ holds the HTTP glue. A module's own code reaches neither the app nor the bot.
 */
describe('module boundaries (imports scanned)', () => {
  it('the scanner sees static, type-only, re-export and dynamic imports', () => {
    expect(importsOf('lib/app.ts')).toContain(path.normalize('lib/bus/index.ts'));
    expect(importsOf('lib/bus/index.ts')).toContain(path.normalize('lib/bus/events.ts')); // export … from
    expect(importsOf('lib/bus/receive.ts')).toContain(path.normalize('lib/bus/subscriber.ts')); // import type
  });

  for (const dir of ['lib/bus', 'lib/commands', 'lib/gamification', 'lib/narrative', 'lib/scheduler']) {
    it(`nothing under ${dir} imports lib/app.ts or lib/bot/`, () => {
      const files = tsFiles(dir);
      expect(files.length).toBeGreaterThan(0);
      const offending = files.flatMap((f) => importsOf(f).filter(reachesUp).map((t) => `${f} → ${t}`));
      expect(offending).toEqual([]);
    });
  }
});
