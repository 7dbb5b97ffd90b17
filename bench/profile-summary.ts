/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by package/file and the top functions,
 * plus inclusive time for functions whose name matches an optional filter.
 * Usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top=25] [inclusive-filter-regex]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function summarise(file: string, top = 25, filter?: RegExp): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const group = (url: string) => {
    if (!url) return '(native/idle/gc)';
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (m) return `npm:${m[1]}`;
    if (url.startsWith('node:')) return url;
    const ours = /\/work\/[^/]+\/((?:lib|api|bench|dev|scripts)\/.+)$/.exec(url.replace('file://', ''));
    return ours ? ours[1]! : url;
  };
  const byGroup = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    const g = n.callFrame.functionName === '(idle)' ? '(idle)' : n.callFrame.functionName === '(garbage collector)' ? '(gc)' : group(n.callFrame.url);
    byGroup.set(g, (byGroup.get(g) ?? 0) + t);
    const f = `${n.callFrame.functionName || '(anonymous)'} ${group(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    byFn.set(f, (byFn.get(f) ?? 0) + t);
  }
  const busy = total - (byGroup.get('(idle)') ?? 0);
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`;
  const lines = [`profile ${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (percentages of busy)`];
  lines.push('  self time by package/file:');
  for (const [g, t] of [...byGroup].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(t)}  ${g}`);
  lines.push('  top functions (self):');
  for (const [f, t] of [...byFn].filter(([f]) => !f.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(t)}  ${f}`);
  if (filter) {
    // Inclusive time: a sample counts once for each distinct matching frame on its stack.
    const incl = new Map<string, number>();
    p.samples.forEach((id, i) => {
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const n = byId.get(cur)!;
        const key = `${n.callFrame.functionName} ${group(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
        if (filter.test(key) && !seen.has(key)) {
          seen.add(key);
          incl.set(key, (incl.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
        }
      }
    });
    lines.push(`  inclusive time of frames matching ${filter}:`);
    for (const [f, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(t)}  ${f}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top, filter] = process.argv.slice(2);
  console.log(summarise(file!, Number(top ?? 25), filter ? new RegExp(filter) : undefined));
}
