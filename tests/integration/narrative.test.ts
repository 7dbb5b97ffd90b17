import { describe, expect, it } from 'vitest';
import { InsufficientFunds } from '../../lib/besitos/errors.js';
import { getBalance } from '../../lib/besitos/ledger.js';
import { answerTrivia, loadProgress, nextTrivia, playStory, StoryRefused, type Action } from '../../lib/narrative/index.js';
import { eraseUser } from '../../lib/users/privacy.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { registerNarrativeProvider } from '../../lib/narrative/provider.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';
import { fixtureIndex } from '../support/story-fixture.js';

const db = useTestDb(12);
const content = fixtureIndex();
const V = content.version.hash;
const now = new Date('2026-05-01T12:00:00Z');
let seq = 0;
const key = () => `test:${process.pid}:${++seq}`;
registerNarrativeProvider();

const play = (userId: number, action: Action, idempotencyKey = key()) => playStory(db, content, { userId, idempotencyKey, action, now });

const events = (userId: number, type: string) =>
  db<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE user_id = ${userId} AND type = ${type}`.then((r) => r[0]!.n);
const storyLedger = (userId: number) =>
  db<{ amount: number; idempotency_key: string }[]>`SELECT amount::int, idempotency_key FROM transactions WHERE user_id = ${userId} AND source = 'story' ORDER BY id`;

/** A user standing at fragment b (the decision), having read a. */
async function atDecision(besitos = 0) {
  const u = await userWithBesitos(db, besitos);
  await play(u, { type: 'open' });
  const p = await loadProgress(db, u);
  await play(u, { type: 'press', version: V, step: p!.step, via: { kind: 'continue' } });
  return { u, step: (await loadProgress(db, u))!.step };
}

describe('narrative repository (real Postgres)', () => {
  it('a move writes progress, rewards and events together, and is listed as a command', async () => {
    const u = await userWithBesitos(db);
    const first = await play(u, { type: 'open' });
    expect(first.result!.screen).toMatchObject({ fragment: 'a', step: 1 });
    const r = await play(u, { type: 'press', version: V, step: 1, via: { kind: 'continue' } });
    expect(r.result).toMatchObject({ screen: { fragment: 'b', step: 2, earned: 5 }, balance: 5, label: 'Historia: continuar' });
    expect(await loadProgress(db, u)).toMatchObject({ current: 'b', completed: ['a'], visits: { a: 1, b: 1 }, step: 2, version: V, items: ['carta'] });
    expect(await storyLedger(u)).toEqual([{ amount: 5, idempotency_key: `story:${u}:fragment:a` }]);
    expect(await events(u, 'narrative.fragment_started')).toBe(2);
    expect(await events(u, 'narrative.fragment_completed')).toBe(1);
    expect(await events(u, 'gamification.besitos_earned')).toBe(1);
    const actions = await db`SELECT name, status FROM actions WHERE user_id = ${u} ORDER BY id`;
    expect(actions.map((a) => [a.name, a.status])).toEqual([['story', 'done'], ['story', 'done']]);
  });

  it('20 concurrent presses of one decision (different updates) → one move, one reward, one set of events', async () => {
    const { u, step } = await atDecision();
    const press: Action = { type: 'press', version: V, step, via: { kind: 'decision', index: 0 } };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => play(u, press)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoryRefused);
    expect(await loadProgress(db, u)).toMatchObject({ current: 'c', step: step + 1, flags: ['jardin'], taken: ['b/jardin'] });
    expect((await storyLedger(u)).map((t) => t.idempotency_key)).toEqual([`story:${u}:fragment:a`, `story:${u}:decision:b/jardin`]);
    expect(await events(u, 'narrative.decision_made')).toBe(1);
    expect(await db`SELECT 1 FROM actions WHERE user_id = ${u} AND name = 'story'`).toHaveLength(3); // open, continue, one decision
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('the same update delivered 20× at once → one move; the copies replay its result', async () => {
    const { u, step } = await atDecision();
    const k = key();
    const press: Action = { type: 'press', version: V, step, via: { kind: 'decision', index: 0 } };
    const results = await Promise.all(Array.from({ length: 20 }, () => play(u, press, k)));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    for (const r of results) expect(r.result).toEqual(results[0]!.result);
    expect(await events(u, 'narrative.decision_made')).toBe(1);
  });

  it('premium: 20 concurrent confirmations spend once; without funds nothing moves', async () => {
    const { u, step } = await atDecision(25); // 25 + 5 from fragment a = 30, the price
    const unlock: Action = { type: 'unlock', version: V, step, via: { kind: 'decision', index: 3 } };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => play(u, unlock)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await getBalance(db, u)).besitos).toBe(0);
    expect(await loadProgress(db, u)).toMatchObject({ current: 'p', paid: ['fragment:p'] });
    expect(await events(u, 'gamification.besitos_spent')).toBe(1);

    const poor = await atDecision(0);
    await expect(play(poor.u, { ...unlock, step: poor.step })).rejects.toBeInstanceOf(InsufficientFunds);
    expect(await loadProgress(db, poor.u)).toMatchObject({ current: 'b', step: poor.step, paid: [] });
    expect((await getBalance(db, poor.u)).besitos).toBe(5);
    expect(await events(poor.u, 'narrative.decision_made')).toBe(0);
  });

  it('a failure after the effects were written leaves nothing: no progress, no reward, no event, no action', async () => {
    const { u, step } = await atDecision();
    const before = { progress: await loadProgress(db, u), ledger: await storyLedger(u), events: await events(u, 'narrative.decision_made') };
    // The outbox refuses the write (a trigger standing in for a crash between statements).
    await db.unsafe(`
      CREATE OR REPLACE FUNCTION fail_decision() RETURNS trigger AS $$
      BEGIN IF NEW.type = 'narrative.decision_made' AND NEW.user_id = ${u} THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER fail_decision_${u} BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION fail_decision();`);
    try {
      await expect(play(u, { type: 'press', version: V, step, via: { kind: 'decision', index: 0 } })).rejects.toThrow(/boom/);
    } finally {
      await db.unsafe(`DROP TRIGGER fail_decision_${u} ON outbox`);
    }
    expect(await loadProgress(db, u)).toEqual(before.progress);
    expect(await storyLedger(u)).toEqual(before.ledger);
    expect(await events(u, 'narrative.decision_made')).toBe(0);
    expect(await db`SELECT 1 FROM actions WHERE user_id = ${u} AND name = 'story'`).toHaveLength(2);
  });

  it('trivia: the clock starts when the question is sent; one answer rewards once; late answers get nothing', async () => {
    const u = await userWithBesitos(db);
    const offer = await nextTrivia(db, content, u, now);
    expect(offer).toMatchObject({ key: 't2', askedAt: now });
    // Asking again keeps the first clock.
    expect((await nextTrivia(db, content, u, new Date(now.getTime() + 5000)))!.askedAt).toEqual(now);
    const later = new Date(now.getTime() + 10_000);
    const answers = await Promise.allSettled(
      Array.from({ length: 10 }, () => answerTrivia(db, content, { userId: u, idempotencyKey: key(), key: 't2', option: 0, now: later })),
    );
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    expect((await getBalance(db, u)).besitos).toBe(5);
    expect(await events(u, 'gamification.trivia_answered')).toBe(1);

    // t1 opens after fragment a; answered after its 30 s: late, no reward.
    await play(u, { type: 'open' });
    await play(u, { type: 'press', version: V, step: 1, via: { kind: 'continue' } });
    const t1 = await nextTrivia(db, content, u, now);
    expect(t1!.key).toBe('t1');
    const late = await answerTrivia(db, content, { userId: u, idempotencyKey: key(), key: 't1', option: 1, now: new Date(now.getTime() + 31_000) });
    expect(late.result).toMatchObject({ kind: 'answered', correct: true, late: true, reward: 0 });
    expect((await getBalance(db, u)).besitos).toBe(10); // 5 (t2) + 5 (fragment a)
    expect(await nextTrivia(db, content, u, now)).toBeNull();
    // An answer to a question never sent, or out of range, moves nothing.
    await expect(answerTrivia(db, content, { userId: u, idempotencyKey: key(), key: 'nope', option: 0, now })).rejects.toBeInstanceOf(StoryRefused);
  });

  it('/borrar removes the progress and trivia answers, racing a move: either order leaves nothing behind', async () => {
    const { u, step } = await atDecision();
    await nextTrivia(db, content, u, now);
    const [tg] = await db<{ telegram_id: number }[]>`SELECT telegram_id FROM users WHERE id = ${u}`;
    await Promise.allSettled([
      play(u, { type: 'press', version: V, step, via: { kind: 'decision', index: 0 } }),
      eraseUser(db, createMemoryStore(), { userId: u, telegramId: Number(tg?.telegram_id ?? 0) }),
    ]);
    expect(await loadProgress(db, u)).toBeNull();
    expect(await db`SELECT 1 FROM narrative_trivia_answers WHERE user_id = ${u}`).toHaveLength(0);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });
});
