import { expect } from 'vitest';
import { grantBesitos } from '../../../lib/besitos/ledger.js';
import { runCommand } from '../../../lib/commands/index.js';
import { bidCommand, createAuctionCommand } from '../../../lib/gamification/auctions/index.js';
import { callbackUpdate, textUpdate } from '../../support/updates.js';
import type { BudgetHarness, UpdateKind } from '../harness.js';
import type { RecordedCall } from '../../support/bot-api-stub.js';

/** An open auction where someone else leads with 10; the measured user has 100 besitos. */
async function auctionWithLeader(h: BudgetHarness) {
  const me = await h.userId();
  await grantBesitos(h.db, { userId: me, amount: 100, source: 'admin', idempotencyKey: `budget:auction:${h.tg}` });
  const admin = await h.person('subastadora');
  const other = await h.person('rival');
  await grantBesitos(h.db, { userId: other.id, amount: 100, source: 'admin', idempotencyKey: `budget:auction:${other.tg}` });
  const now = h.app.clock();
  const created = await runCommand(h.db, createAuctionCommand, {
    userId: admin.id,
    idempotencyKey: `budget:auction:create:${h.tg}`,
    params: { itemKey: 'velo-de-diana', itemName: 'Velo de Diana', minBid: 10, increment: 5, startsAt: now.toISOString(), endsAt: new Date(now.getTime() + 3600_000).toISOString() },
    now,
  });
  const id = (created.result as { auctionId: number }).auctionId;
  await runCommand(h.db, bidCommand, { userId: other.id, idempotencyKey: `budget:auction:bid:${h.tg}`, params: { auctionId: id, amount: 10 }, now });
  h.memo.auction = String(id);
  h.memo.me = String(me);
}

const told = (calls: RecordedCall[], method: string, re: RegExp) =>
  expect(calls.some((c) => c.method === method && re.test(String(c.payload.text ?? ''))), `${method} ${re}`).toBe(true);

/** Auctions (lib/gamification/auctions, lib/bot/features/subastas.ts). */
export const kinds: UpdateKind[] = [
  {
    name: '/subastas',
    // The inbox (2) and state load (1), the open auctions (1).
    budget: { sql: 4, kv: 0, botApi: 1 },
    prepare: auctionWithLeader,
    update: (h) => textUpdate(h.tg, '/subastas'),
    check: (_h, calls) => told(calls, 'sendMessage', /Subastas abiertas/),
  },
  {
    name: '/pujar (outbids the leader)',
    // The inbox (2) and state load (1); the bid's transaction (8, begin/commit included: the action,
    // the auction's row lock, then one pipelined round trip — the hold moved (moveHold: both balance rows
    // locked in id order, the bidder's hold placed, the leader's released), the bid rows and the auction,
    // the outbid notice job — and the action's result); the after-commit relay of the notice's trigger (2: claim and settle, issue 18).
    budget: { sql: 12, kv: 0, botApi: 1 }, // issue 18: the relay's claim in the completion statement
    prepare: auctionWithLeader,
    update: (h) => textUpdate(h.tg, `/pujar #${h.memo.auction} 15`),
    check: (_h, calls) => told(calls, 'sendMessage', /Vas ganando/),
  },
  {
    name: 'auction bid (button)',
    // The bid as above, and the list redrawn with fresh buttons (open auctions, the new balance): +2.
    budget: { sql: 14, kv: 0, botApi: 1 }, // issue 18: the answer in the webhook response; the relay's claim in the completion
    prepare: auctionWithLeader,
    update: (h) => callbackUpdate(h.tg, `sb:${h.memo.auction}:15:${h.memo.me}`),
    check: (_h, calls) => told(calls, 'answerCallbackQuery', /Vas ganando/),
  },
];
