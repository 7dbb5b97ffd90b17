/**
 * `npm run bench`: the four benchmarks of issue 6, each against a baseline measured in the same run,
 * then a summary of the ratios. Needs the local Postgres (DATABASE_URL or BENCH_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test: a throw-away database is created and dropped per benchmark),
 * Redis (REDIS_URL, default redis://127.0.0.1:6379) and pgbench on PATH.
 * BENCH_QUICK=1 for a shorter smoke run; BENCH_ONLY=ledger,webhook,cold,relay to pick some.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchColdStart } from './cold-start.js';
import { benchLedger } from './ledger.js';
import { fmt, machine, type Ratio } from './support.js';
import { benchStory } from './story.js';
import { benchWebhook } from './webhook.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** bench/relay.ts (the event-bus benchmark) runs as its own process; its report is parsed. */
async function benchRelay(): Promise<Ratio[]> {
  console.log('\n== 4. Event relay (bench/relay.ts) ==');
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, ['--import', 'tsx', path.join(HERE, 'relay.ts')], { env: process.env, maxBuffer: 10 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`bench/relay.ts failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    child.stdout?.on('data', (d) => process.stdout.write(String(d).replace(/^/gm, '  ')));
  });
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]!.replace(/,/g, '')) : NaN;
  };
  const vsNaive = num(/relay \/ naive:\s*([\d.,]+)×/);
  const vsDb = num(/relay \/ db-only:\s*([\d.,]+)×/);
  const best = num(/target ≥ 2,000 events\/s: .*\(([\d,.]+) events\/s\)/);
  return [
    { name: 'relay events/s (target ≥ 2,000)', value: best, target: '≥ 2000', pass: best >= 2000, detail: `relay/db-only ${fmt(vsDb, 2)}×, relay/naive ${fmt(vsNaive, 1)}×` },
  ];
}

const only = new Set((process.env.BENCH_ONLY ?? 'ledger,webhook,cold,relay,story').split(','));
const steps: [string, () => Promise<Ratio[]>][] = [
  ['ledger', benchLedger],
  ['webhook', benchWebhook],
  ['cold', benchColdStart],
  ['relay', benchRelay],
  ['story', benchStory],
];

console.log(`# DianaBot benchmarks — ${new Date().toISOString()}\n${machine()}`);
const results: Ratio[] = [];
for (const [name, fn] of steps) {
  if (!only.has(name)) continue;
  try {
    results.push(...(await fn()));
  } catch (err) {
    console.error(`benchmark ${name} failed:`, err);
    results.push({ name, value: NaN, target: '-', pass: false, detail: `failed: ${(err as Error).message}` });
  }
}
console.log('\n== Summary ==');
for (const r of results) {
  console.log(`  ${r.pass ? 'MET   ' : 'MISSED'} ${r.name}: ${fmt(r.value, 2)} (target ${r.target}) — ${r.detail}`);
}
process.exit(0);
