/**
 * Issue 18: the webhook's completion statement also claims the update's outbox events for the
 * after-commit relay (lib/webhook/completion.ts with lib/bus afterCommitClaim), one statement instead
 * of two. What it must keep: each update gets exactly its own rows, leased as the relay's own claim
 * leases them; rows a sweep holds are not taken; a completion that fails claims nothing.
 */
import { describe, expect, it } from 'vitest';
import { createEvent } from '../../lib/bus/events.js';
import { publish } from '../../lib/bus/outbox.js';
import { AFTER_COMMIT_LEASE_SECONDS, afterCommitClaim } from '../../lib/bus/relay.js';
import { createInboxCompleter } from '../../lib/webhook/completion.js';
import { registerUser } from '../../lib/users/registration.js';
import { nextUpdateId } from '../support/updates.js';
import { uniqueTelegramId, useTestDb } from '../support/db.js';

const db = useTestDb(6);

async function processingUpdate(): Promise<number> {
  const id = nextUpdateId();
  await db`INSERT INTO telegram_updates (update_id, kind, status, attempts, locked_until) VALUES (${id}, 'message', 'processing', 1, now() + interval '60 seconds')`;
  return id;
}

async function events(n: number): Promise<string[]> {
  const user = await registerUser(db, { id: uniqueTelegramId(), first_name: 'Claim' });
  const evs = Array.from({ length: n }, (_, i) => createEvent('gamification.besitos_earned', { amount: 1, source: 'admin', transaction_id: i + 1, balance_after: i + 1 }, user.id));
  await db.begin((tx) => publish(tx, ...evs));
  return evs.map((e) => e.event_id);
}

const status = async (id: number) => (await db<{ status: string }[]>`SELECT status FROM telegram_updates WHERE update_id = ${id}`)[0]!.status;
const leased = async (ids: string[]) =>
  (await db<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE event_id IN ${db(ids)} AND published_at IS NULL AND next_attempt_at > now() + ${AFTER_COMMIT_LEASE_SECONDS - 10} * interval '1 second'`)[0]!.n;

describe('the inbox completion claims the update’s events for the after-commit relay', () => {
  it('one statement marks the update done and returns its rows, leased; updates batched together each get their own', async () => {
    const statements: string[] = [];
    const complete = createInboxCompleter(db, (q, ids) => {
      statements.push(ids.join(','));
      return afterCommitClaim(q, ids);
    });
    const [u1, u2, u3] = [await processingUpdate(), await processingUpdate(), await processingUpdate()];
    const [e1, e2] = [await events(2), await events(3)];
    const first = complete(u1, e1);
    // These arrive while the first statement is in flight: one statement for both, each its own rows.
    const [second, third] = [complete(u2, e2), complete(u3, [])];
    const rows1 = await first;
    const [rows2, rows3] = await Promise.all([second, third]);
    expect(rows1!.map((r) => r.event_id).sort()).toEqual([...e1].sort());
    expect(rows2!.map((r) => r.event_id).sort()).toEqual([...e2].sort());
    expect(rows3).toBeUndefined();
    expect(statements).toEqual([e1.join(','), e2.join(',')]);
    for (const u of [u1, u2, u3]) expect(await status(u)).toBe('done');
    expect(await leased([...e1, ...e2])).toBe(5);
    expect(JSON.parse(rows1![0]!.body)).toMatchObject({ type: 'gamification.besitos_earned' });
  });

  it('rows a sweep holds (locked) or has leased are not taken: the update is still done, the relay gets none', async () => {
    const complete = createInboxCompleter(db, afterCommitClaim);
    const [u1, u2] = [await processingUpdate(), await processingUpdate()];
    const [locked, taken] = [await events(1), await events(1)];
    await db`UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE event_id IN ${db(taken)}`;
    let release!: () => void;
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const sweep = db.begin(async (tx) => {
      await tx`SELECT id FROM outbox WHERE event_id IN ${tx(locked)} FOR UPDATE`;
      holding();
      await new Promise<void>((r) => (release = r));
    });
    await held;
    expect(await complete(u1, locked)).toEqual([]);
    expect(await complete(u2, taken)).toEqual([]);
    release();
    await sweep;
    expect(await status(u1)).toBe('done');
    expect(await status(u2)).toBe('done');
  });

  it('a completion that fails claims nothing: the rows stay due for the sweep', async () => {
    // A claim that fails at run time, after both UPDATEs ran (division by zero in its RETURNING).
    const complete = createInboxCompleter(db, (q, ids) => q`
      UPDATE outbox SET next_attempt_at = now() + interval '30 seconds' WHERE event_id IN ${q(ids)}
      RETURNING id, event_id, type, event::text AS body, attempts, 1 / (attempts - attempts) AS boom`);
    const u = await processingUpdate();
    const ids = await events(2);
    await expect(complete(u, ids)).rejects.toThrow();
    expect(await status(u)).toBe('processing');
    expect(await leased(ids)).toBe(0);
    const [due] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE event_id IN ${db(ids)} AND next_attempt_at <= now()`;
    expect(due!.n).toBe(2);
  });
});
