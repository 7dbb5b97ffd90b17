import { expect } from 'vitest';
import { grantBesitos } from '../../../lib/besitos/ledger.js';
import { textUpdate } from '../../support/updates.js';
import type { UpdateKind } from '../harness.js';

/** Bonus besitos (lib/besitos/lots.ts): /balance says what expires when, with one read for users holding some. */
export const kinds: UpdateKind[] = [
  {
    name: '/balance (with bonus besitos)',
    // /balance's 3, plus the expiring lots (one statement, only when the state load says bonus > 0).
    budget: { sql: 4, kv: 0, botApi: 1 },
    prepare: async (h) => {
      await grantBesitos(h.db, { userId: await h.userId(), amount: 25, source: 'event:budget', idempotencyKey: `budget:bonus:${h.tg}`, bonus: true });
    },
    update: (h) => textUpdate(h.tg, '/balance'),
    check: (_h, calls) => expect(String(calls.at(-1)!.payload.text)).toMatch(/⏳ <b>25<\/b> besitos bonus caducan/),
  },
];
