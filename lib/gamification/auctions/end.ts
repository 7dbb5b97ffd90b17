import { postHold } from '../../besitos/holds.js';
import { createEvent } from '../../bus/events.js';
import { publish } from '../../bus/outbox.js';
import type { Tx } from '../../scheduler/index.js';
import { addItems } from '../repository.js';
import { bidders, toAuction, type Auction, type AuctionRow } from './model.js';
import { scheduleAuctionNotice, type AuctionNotice } from './notices.js';
import { taxOf } from './rules.js';

// ── Ending (the scheduler's auction.end job) ────────────────────────────────────────────────────

export type EndOutcome =
  | { status: 'missing' | 'already' }
  | { status: 'early'; endsAt: Date }
  | { status: 'no_winner'; auction: Auction }
  | { status: 'won'; auction: Auction; winnerId: number; price: number; tax: number; transactionId: number };

/**
 * Ends an auction once: a second or late run finds it no longer open and does nothing. The leader's
 * user row is taken FOR KEY SHARE before the auction row, in /borrar's order (user, then auction), so
 * the two wait for each other rather than deadlock; a leader who erased meanwhile is no longer leader.
 */
export async function endAuction(tx: Tx, auctionId: number, now: Date): Promise<EndOutcome> {
  const [peek] = await tx<{ leader_id: number | null }[]>`SELECT leader_id FROM auctions WHERE id = ${auctionId}`;
  if (!peek) return { status: 'missing' };
  if (peek.leader_id !== null) await tx`SELECT 1 FROM users WHERE id = ${peek.leader_id} FOR KEY SHARE`;
  const [row] = await tx<AuctionRow[]>`SELECT * FROM auctions WHERE id = ${auctionId} FOR UPDATE`;
  const a = toAuction(row!);
  if (a.status !== 'open') return { status: 'already' };
  if (now < a.endsAt) return { status: 'early', endsAt: a.endsAt };
  const everyone = await bidders(tx, a.id);
  if (a.leaderId === null) {
    await tx`UPDATE auctions SET status = 'ended', ended_at = ${now} WHERE id = ${a.id}`;
    for (const u of new Set([...everyone, ...(a.createdBy ? [a.createdBy] : [])])) {
      await scheduleAuctionNotice(tx, `${a.id}:end:${u}`, u, { kind: 'no_winner', auctionId: a.id, itemName: a.itemName }, now);
    }
    return { status: 'no_winner', auction: { ...a, status: 'ended' } };
  }
  const price = a.leaderBid!;
  const tax = taxOf(price);
  const posted = await postHold(tx, {
    holdId: a.leaderHoldId!,
    source: 'auction',
    idempotencyKey: `auction:${a.id}:won`,
    tax,
    taxSource: 'tax',
    description: a.itemName,
    metadata: { auction_id: a.id, item_key: a.itemKey },
    now,
  });
  const transactionId = posted.entries[0]!.id;
  await addItems(tx, { userId: a.leaderId, itemKey: a.itemKey, quantity: 1, kind: 'auction', price, idempotencyKey: `auction:${a.id}`, now });
  await tx`UPDATE auction_bids SET status = 'won' WHERE auction_id = ${a.id} AND status = 'leading'`;
  await tx`
    UPDATE auctions SET status = 'ended', ended_at = ${now}, winner_id = ${a.leaderId}, price = ${price}, tax = ${tax}, transaction_id = ${transactionId}
     WHERE id = ${a.id}`;
  await publish(tx, createEvent('gamification.auction_won', { auction_id: a.id, item_key: a.itemKey, amount: price, transaction_id: transactionId }, a.leaderId, now));
  const notices: [number, AuctionNotice][] = [[a.leaderId, { kind: 'won', auctionId: a.id, itemName: a.itemName, price, tax }]];
  for (const u of everyone) if (u !== a.leaderId) notices.push([u, { kind: 'lost', auctionId: a.id, itemName: a.itemName, price }]);
  if (a.createdBy && !everyone.includes(a.createdBy)) notices.push([a.createdBy, { kind: 'ended_admin', auctionId: a.id, itemName: a.itemName, price, tax, bids: a.bids }]);
  for (const [u, n] of notices) await scheduleAuctionNotice(tx, `${a.id}:end:${u}`, u, n, now);
  return { status: 'won', auction: { ...a, status: 'ended', winnerId: a.leaderId, price, tax }, winnerId: a.leaderId, price, tax, transactionId };
}

