import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../../lib/db/client.js';
import { claimAndLoadUserState } from '../../lib/users/state.js';
import { createInboxCompleter } from '../../lib/webhook/completion.js';
import { startTestApp, textUpdate } from '../support/app.js';
import { testDatabaseUrl, uniqueTelegramId, useTestDb } from '../support/db.js';

/**
 * Issue 18's round-trip savings keep the inbox's guarantees: the claim and the sender's state load are
 * one statement whose state part writes nothing unless the claim succeeded; handled updates are marked
 * done by group commit, and a webhook still answers 200 only after its own row says done.
 */
const db = useTestDb();
const opts = { timeZone: 'Europe/Madrid', now: new Date() };
const refused = Object.assign(new Error('invalid input syntax'), { code: '22P02' });
const refusing = await startTestApp({}, { webhook: { claimWithState: () => Promise.reject(refused) } });
const down = Object.assign(new Error('connection closed'), { code: 'CONNECTION_CLOSED' });
const unreachable = await startTestApp({}, { webhook: { claimWithState: () => Promise.reject(down) } });
let completions = 0;
const counted = createDb(testDatabaseUrl(), { max: 10, onQuery: (q) => void (q.includes("SET status = 'done'") && completions++) });
afterAll(() => counted.end({ timeout: 5 }));
const grouped = await startTestApp({}, { db: counted });
const profile = (id: number) => ({ id, is_bot: false, first_name: 'Ana', username: `ana_${id}`.slice(0, 32) });

describe('claim and state load in one statement', () => {
  it('a failed claim (a duplicate) registers nobody and loads nothing', async () => {
    const tg = uniqueTelegramId();
    const r = await claimAndLoadUserState(db, db`SELECT 1 AS attempts WHERE false`, profile(tg), opts);
    expect(r).toEqual({ claim: undefined, state: null });
    expect(await db`SELECT 1 FROM users WHERE telegram_id = ${tg}`).toHaveLength(0);
  });

  it('a successful claim registers the sender, returns the claim row and the same state loadUserState gives', async () => {
    const tg = uniqueTelegramId();
    const r = await claimAndLoadUserState<{ attempts: number }>(db, db`SELECT 2 AS attempts`, profile(tg), opts);
    expect(r.claim).toEqual({ attempts: 2 });
    expect(r.state).toMatchObject({ telegramId: tg, created: true, besitos: 0, username: `ana_${tg}`.slice(0, 32) });
    const again = await claimAndLoadUserState<{ attempts: number }>(db, db`SELECT 1 AS attempts`, { ...profile(tg), first_name: 'Anita' }, opts);
    expect(again.state).toMatchObject({ id: r.state!.id, created: false, firstName: 'Anita' });
    expect(await db`SELECT 1 FROM user_balances WHERE user_id = ${r.state!.id}`).toHaveLength(1);
  });

  it('when the combined statement fails for a non-transient reason, the update is claimed alone and handled', async () => {
    const t = refusing;
    const tg = uniqueTelegramId();
    const update = textUpdate(tg, '/start');
    expect(await t.post(update)).toEqual({ status: 200, body: 'ok' });
    expect(t.telegram.sentTexts(tg)).toHaveLength(1);
    const [row] = await db<{ status: string }[]>`SELECT status FROM telegram_updates WHERE update_id = ${update.update_id}`;
    expect(row?.status).toBe('done');
  });

  it('when it fails because the database is unreachable, 503 and nothing is recorded', async () => {
    const t = unreachable;
    const update = textUpdate(uniqueTelegramId(), '/start');
    expect((await t.post(update)).status).toBe(503);
    expect(await db`SELECT 1 FROM telegram_updates WHERE update_id = ${update.update_id}`).toHaveLength(0);
  });
});

describe('inbox completion by group commit', () => {
  it('40 concurrent updates: every row done before its 200, in fewer completion statements than updates', async () => {
    const t = grouped;
    {
      const updates = Array.from({ length: 40 }, (_, i) => textUpdate(uniqueTelegramId(), i % 2 ? '/balance' : '/help'));
      await Promise.all(
        updates.map(async (u) => {
          expect((await t.post(u)).status).toBe(200);
          // Answered only once its own row is done.
          const [row] = await db<{ status: string; payload: unknown }[]>`SELECT status, payload FROM telegram_updates WHERE update_id = ${u.update_id}`;
          expect(row).toEqual({ status: 'done', payload: null });
        }),
      );
      expect(completions).toBeGreaterThan(0);
      expect(completions).toBeLessThan(40);
    }
  });

  it('a failed completion statement fails every update of its batch (each then takes the failure path), and the next batch goes on', async () => {
    let fail = true;
    const seen: string[][] = [];
    // The completer only batches; what it sends is the real statement, checked above. Here: a database that refuses it once.
    const fake = ((strings: TemplateStringsArray, ...values: unknown[]) => {
      seen.push([String(values[0])]);
      if (fail) {
        fail = false;
        return new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error('terminated'), { code: '57P01' })), 20));
      }
      return Promise.resolve([]);
    }) as unknown as Parameters<typeof createInboxCompleter>[0];
    const complete = createInboxCompleter(fake);
    const first = complete(1);
    // These arrive while the first statement is in flight: they go together in the next one.
    const later = [complete(2), complete(3), complete(4)];
    await expect(first).rejects.toMatchObject({ code: '57P01' });
    await Promise.all(later);
    expect(seen).toEqual([['1'], ['2,3,4']]);
  });
});
