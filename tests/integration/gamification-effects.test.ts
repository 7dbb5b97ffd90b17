import { describe, expect, it } from 'vitest';
import { withTransaction } from '../../lib/db/transaction.js';
import { catalogueOf } from '../../lib/gamification/content.js';
import { addItems } from '../../lib/gamification/repository.js';
import { ShopRefused, useCommand } from '../../lib/gamification/shop.js';
import { runCommand } from '../../lib/commands/index.js';
import { answerTrivia, loadProgress, nextTrivia, peekStory, playStory, StoryRefused, type Action } from '../../lib/narrative/index.js';
import { useTestDb } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';
import { fixtureIndex } from '../support/story-fixture.js';

/**
 * Gamification's effects on the story, on real Postgres: story rewards (items, achievements and what
 * they unlock), the conditions item_owned / achievement_unlocked evaluated against the real state,
 * a narrative key opening its fragment, the trivia power-up.
 */
const db = useTestDb(12);
const content = fixtureIndex((raw) => {
  raw.items = [
    { key: 'carta', name: 'Carta', description: 'Una carta.', category: 'narrative', rarity: 'common', price: 10 },
    { key: 'llave-q', name: 'Llave de la puerta', description: 'Abre la puerta.', category: 'narrative', rarity: 'rare', price: 50, consumable: true, effect: { kind: 'unlock_fragment', fragment: 'q' } },
    { key: 'amuleto', name: 'Amuleto', description: 'Trivias al doble.', category: 'powerup', rarity: 'epic', price: 150, consumable: true, effect: { kind: 'trivia_multiplier', multiplier: 2, minutes: 60 } },
  ];
  raw.achievements = [
    { key: 'lector', title: 'Lector', description: 'Leíste el inicio.', rarity: 'common' },
    { key: 'fan', title: 'Fan', description: 'Tras ser lector.', rarity: 'rare', prerequisites: ['lector'] },
  ];
  raw.fragments[0].rewards = { besitos: 5, items: ['carta'], achievements: ['lector'] };
  raw.fragments[1].decisions.push(
    { key: 'cofre', label: 'Abrir el cofre', next: 'k', show: { kind: 'item_owned', item: 'carta' } },
    { key: 'puerta', label: 'La puerta', next: 'q' },
  );
  raw.fragments.push(
    { key: 'k', level: 1, title: 'Cofre', narrator: 'Diana', text: 'Dentro.', unlock: { kind: 'achievement_unlocked', achievement: 'fan' }, next: 'b' },
    { key: 'q', level: 1, title: 'Puerta', narrator: 'Diana', text: 'Tras la puerta.', unlock: { kind: 'flag_set', flag: 'nunca' }, next: 'b' },
  );
});
const cat = catalogueOf(content);
const V = content.version.hash;
const now = new Date('2026-05-01T12:00:00Z');
let seq = 0;
const key = () => `effects:${process.pid}:${++seq}`;
const play = (userId: number, action: Action) => playStory(db, content, { userId, idempotencyKey: key(), action, now, timeZone: 'America/Mexico_City' });
const step = async (u: number) => (await loadProgress(db, u))!.step;
const press = async (u: number, index: number) => play(u, { type: 'press', version: V, step: await step(u), via: { kind: 'decision', index } });
const labels = (r: Awaited<ReturnType<typeof play>>) => r.result!.screen.decisions.map((d) => d.label);

async function atB() {
  const u = await userWithBesitos(db);
  await play(u, { type: 'open' });
  const r = await play(u, { type: 'press', version: V, step: await step(u), via: { kind: 'continue' } });
  return { u, screen: r };
}

describe('story rewards applied by gamification', () => {
  it('a fragment rewarding an item and an achievement: backpack, unlock (and its dependent) paid once, congratulated once', async () => {
    const { u } = await atB();
    const achievements = await db`SELECT achievement_key FROM user_achievements WHERE user_id = ${u} AND unlocked_at IS NOT NULL ORDER BY 1`;
    expect(achievements.map((a) => a.achievement_key)).toEqual(['fan', 'lector']);
    const [inv] = await db`SELECT quantity FROM user_inventory WHERE user_id = ${u} AND item_key = 'carta'`;
    expect(inv!.quantity).toBe(1);
    const paid = await db`SELECT source, amount::int FROM transactions WHERE user_id = ${u} ORDER BY id`;
    expect(paid.map((t) => [t.source, t.amount])).toEqual([['achievement', 50], ['achievement', 100], ['story', 5]]);
    const [events] = await db`SELECT count(*)::int AS n FROM outbox WHERE user_id = ${u} AND type = 'gamification.achievement_unlocked'`;
    expect(events!.n).toBe(2);
    const jobs = await db`SELECT key FROM scheduled_jobs WHERE key LIKE ${`gamification.notice:achievement:${u}:%`} ORDER BY key`;
    expect(jobs.map((j) => j.key.split(':').pop())).toEqual(['fan', 'lector']);

    // Going back through the rewarded fragment grants nothing again.
    await press(u, 1); // Volver → a
    await play(u, { type: 'press', version: V, step: await step(u), via: { kind: 'continue' } });
    const [again] = await db`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${u} AND source = 'achievement'`;
    expect(again!.n).toBe(2);
    const [inv2] = await db`SELECT quantity FROM user_inventory WHERE user_id = ${u} AND item_key = 'carta'`;
    expect(inv2!.quantity).toBe(1);
    expect(await ledgerMismatches(db, [u])).toEqual([]);
  });

  it('concurrent moves through the rewarded fragment (20 updates) unlock once', async () => {
    const u = await userWithBesitos(db);
    await play(u, { type: 'open' });
    const s = await step(u);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => play(u, { type: 'press', version: V, step: s, via: { kind: 'continue' } })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoryRefused);
    const [n] = await db`SELECT count(*)::int AS n FROM user_achievements WHERE user_id = ${u} AND unlocked_at IS NOT NULL`;
    expect(n!.n).toBe(2);
    const [t] = await db`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${u} AND source = 'achievement'`;
    expect(t!.n).toBe(2);
  });
});

describe('conditions item_owned / achievement_unlocked against the real state', () => {
  it('a decision shown to owners of an item, a fragment opened by an achievement; others do not see it', async () => {
    const { u, screen } = await atB();
    expect(labels(screen)).toContain('Abrir el cofre');
    const peek = await peekStory(db, content, u, { vip: false, besitos: 0 });
    expect(peek!.decisions.map((d) => d.label)).toContain('Abrir el cofre');
    const moved = await press(u, screen.result!.screen.decisions.find((d) => d.label === 'Abrir el cofre')!.index);
    expect(moved.result!.screen.fragment).toBe('k');

    // Someone whose carta is gone (used, traded …): the decision is hidden, a forged press refused.
    const other = await atB();
    await db`UPDATE user_inventory SET quantity = 0 WHERE user_id = ${other.u}`;
    const peek2 = await peekStory(db, content, other.u, { vip: false, besitos: 0 });
    expect(peek2!.decisions.map((d) => d.label)).not.toContain('Abrir el cofre');
    await expect(press(other.u, 5)).rejects.toBeInstanceOf(StoryRefused);
  });
});

describe('items used', () => {
  it('a narrative key opens its fragment: refused before, open after using it; the key is spent once', async () => {
    const { u } = await atB();
    const locked = await press(u, 6).catch((e) => e);
    expect(locked).toBeInstanceOf(StoryRefused);
    expect((locked as StoryRefused).refusal).toMatchObject({ refused: 'locked', target: 'q' });

    await withTransaction(db, (tx) => addItems(tx, { userId: u, itemKey: 'llave-q', quantity: 1, kind: 'reward', idempotencyKey: `gift-key:${u}`, now }));
    const use = () => runCommand(db, useCommand(cat), { userId: u, idempotencyKey: `use:${u}:1`, params: { itemKey: 'llave-q' }, now, isUserError: (e) => e instanceof ShopRefused });
    const both = await Promise.allSettled([use(), runCommand(db, useCommand(cat), { userId: u, idempotencyKey: `use:${u}:2`, params: { itemKey: 'llave-q' }, now, isUserError: (e) => e instanceof ShopRefused })]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const moved = await press(u, 6);
    expect(moved.result!.screen.fragment).toBe('q');
    const [uses] = await db`SELECT count(*)::int AS n FROM item_moves WHERE user_id = ${u} AND kind = 'use'`;
    expect(uses!.n).toBe(1);
  });

  it('the trivia power-up doubles the trivia reward while it runs, and only then', async () => {
    const { u } = await atB();
    const other = (await atB()).u;
    await withTransaction(db, (tx) => addItems(tx, { userId: u, itemKey: 'amuleto', quantity: 1, kind: 'reward', idempotencyKey: `gift-amulet:${u}`, now }));
    await runCommand(db, useCommand(cat), { userId: u, idempotencyKey: `use-amulet:${u}`, params: { itemKey: 'amuleto' }, now });
    for (const who of [u, other]) {
      await nextTrivia(db, content, who, now);
      await answerTrivia(db, content, { userId: who, idempotencyKey: key(), key: 't1', option: 1, now: new Date(now.getTime() + 5_000) });
    }
    const trivia = async (who: number) => (await db`SELECT amount::int, metadata FROM transactions WHERE user_id = ${who} AND source = 'trivia'`)[0]!;
    expect(await trivia(u)).toMatchObject({ amount: 20, metadata: { base: 10, multiplier: 2 } });
    expect((await trivia(other)).amount).toBe(10);
    // An hour later the power-up is over.
    const later = new Date(now.getTime() + 61 * 60_000);
    await nextTrivia(db, content, u, later);
    await answerTrivia(db, content, { userId: u, idempotencyKey: key(), key: 't2', option: 0, now: new Date(later.getTime() + 1_000) });
    const [t2] = await db`SELECT amount::int FROM transactions WHERE user_id = ${u} AND source = 'trivia' ORDER BY id DESC LIMIT 1`;
    expect(t2!.amount).toBe(5);
    expect(await ledgerMismatches(db, [u, other])).toEqual([]);
  });
});
