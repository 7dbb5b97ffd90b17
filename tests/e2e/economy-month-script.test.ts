/** `npm run economy:month`: writes a simulated month into an empty database, flags only the planted rows, saves the chart; refuses a database with users. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl, useTestDb } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const db = useTestDb(2);
const dir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-month-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const script = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'scripts/economy-month.ts', ...args], {
    cwd: root,
    timeout: 120_000,
    env: { ...process.env, DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' },
  });

describe('npm run economy:month', () => {
  it('a month for 120 users: sound ledger, the farmer and the planted rows flagged, nobody else; the chart saved', async () => {
    const [{ n }] = (await db`SELECT count(*)::int AS n FROM users`) as unknown as [{ n: number }];
    expect(n).toBe(0);
    const png = path.join(dir, 'month.png');
    const { stdout } = await script(['--users', '120', '--days', '12', '--seed', '3', '--png', png, '--json', path.join(dir, 'month.json')]);
    expect(stdout).toMatch(/Simulación: 120 usuarios, 12 días/);
    expect(stdout).toMatch(/outlier\s+trivia\s+granjero/);
    expect(stdout).toMatch(/over_cap\s+daily\s+doble regalo/);
    expect(stdout).toMatch(/unmatched\s+mission\s+misiones fantasma/);
    expect(stdout).toContain('Usuarios normales marcados: 0');
    expect((await readFile(png)).subarray(0, 4).toString('hex')).toBe('89504e47');
    const d = JSON.parse(await readFile(path.join(dir, 'month.json'), 'utf8'));
    expect(d.days).toHaveLength(12);
    expect(await ledgerMismatches(db)).toEqual([]);
  }, 120_000);

  it('refuses a database that already has users, in Spanish, and writes nothing', async () => {
    const before = await db`SELECT count(*)::int AS n FROM transactions`;
    const err = await script(['--users', '50', '--days', '3', '--png', path.join(dir, 'x.png')]).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('ya tiene 120 usuarios');
    expect(await db`SELECT count(*)::int AS n FROM transactions`).toEqual(before);
  }, 120_000);

  it('bad arguments are explained', async () => {
    const err = await script(['--users', 'muchos']).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toContain('Uso: npm run economy:month');
  }, 60_000);
});
