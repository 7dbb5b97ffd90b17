import { afterAll, describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { createEvent } from '../../lib/bus/events.js';
import { publish } from '../../lib/bus/outbox.js';
import { trackingDb, trackWrittenEvents, writtenEventsCollector } from '../../lib/bus/written.js';
import { createDb } from '../../lib/db/client.js';
import { registerUser } from '../../lib/users/registration.js';
import { isolatedDatabase } from '../support/bus.js';
import { uniqueTelegramId } from '../support/db.js';

// lib/bus/written.ts: the events an update wrote are noted on the database handle the bot gives it.
const db = createDb(await isolatedDatabase(), { max: 4 });
afterAll(() => db.end({ timeout: 5 }));

const event = (userId: number) => createEvent('gamification.besitos_earned', { amount: 1, source: 'admin:written', transaction_id: 1, balance_after: 1 }, userId);

describe('events written by an update', () => {
  it('are collected through its handle, its transactions and their savepoints; the suite runs in check mode', async () => {
    expect(process.env.DIANABOT_WRITTEN_CHECK).toBe('1');
    const userId = (await registerUser(db, { id: uniqueTelegramId(), first_name: 'W' })).id;
    const [a, b, c] = [event(userId), event(userId), event(userId)];
    const update = { update_id: 1 };
    let granted = '';
    const ids = await trackWrittenEvents(update, async () => {
      const mine = trackingDb(db, writtenEventsCollector(update)!);
      await mine.begin((tx) => publish(tx, a));
      await mine.begin(async (tx) => {
        await tx.savepoint((sp) => publish(sp, b));
        await tx.savepoint(async () => {
          await publish(tx, c);
        });
      });
      await grantBesitos(mine, { userId, amount: 2, source: 'admin:written', idempotencyKey: `written:${userId}` });
      granted = (await db<{ event_id: string }[]>`SELECT event_id FROM outbox WHERE user_id = ${userId} ORDER BY id DESC LIMIT 1`)[0]!.event_id;
    });
    expect(ids).toEqual([a.event_id, b.event_id, c.event_id, granted]);
  });

  it('a write through another handle during the update fails it (check mode), instead of losing its publication', async () => {
    const userId = (await registerUser(db, { id: uniqueTelegramId(), first_name: 'W' })).id;
    const e = event(userId);
    const update = { update_id: 2 };
    await expect(trackWrittenEvents(update, () => db.begin((tx) => publish(tx, e)))).rejects.toThrow(e.event_id);
  });

  it('outside an update nothing is collected, and the update\'s collector is gone after it', async () => {
    const userId = (await registerUser(db, { id: uniqueTelegramId(), first_name: 'W' })).id;
    await db.begin((tx) => publish(tx, event(userId)));
    const update = { update_id: 3 };
    await trackWrittenEvents(update, async () => {
      expect(writtenEventsCollector(update)).toEqual([]);
    });
    expect(writtenEventsCollector(update)).toBeUndefined();
  });
});
