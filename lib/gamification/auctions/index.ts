import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { moveHold, voidHold, voidHoldsOf } from '../../besitos/holds.js';
import { registerCommand } from '../../commands/index.js';
import type { Queryable } from '../../db/client.js';
import { cancel, reschedule, schedule, type Tx } from '../../scheduler/index.js';
import { decideBid, MAX_BID, nextMinimum, validateCreate, type BidRefusal, type CreateRefusal } from './rules.js';
import { scheduleAuctionNotice } from './notices.js';
import { bidders, endJobKey, holdReference, toAuction, type Auction, type AuctionRow } from './model.js';
import './jobs.js';

export * from './rules.js';
export * from './model.js';
export { endAuction, type EndOutcome } from './end.js';
export { auctionEndJob } from './jobs.js';
export { auctionNoticeJob, type AuctionNotice } from './notices.js';

/**
 * Auctions of exclusive items (seed §4.1). A bid is the command `auction.bid`: under the auction's row
 * lock it holds the bidder's besitos (lib/besitos/holds.ts: escrow, still theirs), releases the
 * previous leader's hold at once and schedules their notice, and moves the end when the bid comes in
 * the last 2 minutes (the `auction.end` job is rescheduled). The end is that job, run once by
 * lib/scheduler: the winner's hold is posted as a spend plus a 10% `tax` row (both leave circulation),
 * the item goes to the backpack, `gamification.auction_won` is written and every bidder is told.
 *
 * Lock order: users (FOR KEY SHARE, the command's action row) → auctions row → user_balances in
 * user_id order → besitos_holds. /borrar locks the user row, then the auctions it leads.
 */

/** A bid or an admin's request refused for a reason the user can act on (told in Spanish at the bot edge). */
export class AuctionRefused extends Error {
  constructor(
    readonly reason: BidRefusal | CreateRefusal | 'unknown_item' | 'not_open',
    /** The least a bid may be now (for "la mínima ahora es …"). */
    readonly minimum = 0,
  ) {
    super(`auction: ${reason}`);
    this.name = 'AuctionRefused';
  }
}


// ── Creating and cancelling (admins) ─────────────────────────────────────────────────────────────

export const createParams = lazy(() => z.object({
  itemKey: z.string().min(1).max(48),
  itemName: z.string().min(1).max(120),
  minBid: z.number().int().min(1).max(MAX_BID),
  increment: z.number().int().min(1).max(MAX_BID),
  startsAt: z.iso.datetime(),
  endsAt: z.iso.datetime(),
}));
export type CreateParams = z.output<typeof createParams>;

/** An admin's new auction and its end job, in one transaction (the admin's action: audit trail). */
export const createAuctionCommand = registerCommand<CreateParams, { auctionId: number; endsAt: string }>({
  name: 'auction.create',
  params: createParams,
  async execute({ tx, userId, now }, p) {
    const startsAt = new Date(p.startsAt);
    const endsAt = new Date(p.endsAt);
    const refusal = validateCreate({ minBid: p.minBid, increment: p.increment, startsAt, endsAt }, now);
    if (refusal) throw new AuctionRefused(refusal);
    const [row] = await tx<{ id: number }[]>`
      INSERT INTO auctions (item_key, item_name, starts_at, ends_at, min_bid, increment, created_by, created_at)
      VALUES (${p.itemKey}, ${p.itemName}, ${startsAt}, ${endsAt}, ${p.minBid}, ${p.increment}, ${userId}, ${now})
      RETURNING id`;
    const id = Number(row!.id);
    await schedule(tx, { kind: 'auction.end', key: endJobKey(id), dueAt: endsAt, payload: { auctionId: id } });
    return { auctionId: id, endsAt: endsAt.toISOString() };
  },
});

/** An admin cancels an open auction: the leader's hold is released, bidders told, the end job cancelled. */
export const cancelAuctionCommand = registerCommand<{ auctionId: number }, { cancelled: boolean; itemName: string }>({
  name: 'auction.cancel',
  params: lazy(() => z.object({ auctionId: z.number().int().positive() })),
  async execute({ tx, now }, p) {
    const [row] = await tx<AuctionRow[]>`SELECT * FROM auctions WHERE id = ${p.auctionId} FOR UPDATE`;
    if (!row) throw new AuctionRefused('not_found');
    const a = toAuction(row);
    if (a.status !== 'open') throw new AuctionRefused('not_open');
    if (a.leaderHoldId !== null) await voidHold(tx, a.leaderHoldId, 'cancelled', now);
    await tx`UPDATE auction_bids SET status = 'cancelled' WHERE auction_id = ${a.id} AND status = 'leading'`;
    await tx`
      UPDATE auctions SET status = 'cancelled', ended_at = ${now}, leader_id = NULL, leader_bid = NULL, leader_hold_id = NULL
       WHERE id = ${a.id}`;
    await cancel(tx, endJobKey(a.id));
    for (const u of await bidders(tx, a.id)) {
      await scheduleAuctionNotice(tx, `${a.id}:cancelled:${u}`, u, { kind: 'cancelled', auctionId: a.id, itemName: a.itemName }, now);
    }
    return { cancelled: true, itemName: a.itemName };
  },
});

// ── Bidding ──────────────────────────────────────────────────────────────────────────────────────

export const bidParams = lazy(() => z.object({ auctionId: z.number().int().positive(), amount: z.number().int().min(1).max(MAX_BID) }));
export type BidParams = z.output<typeof bidParams>;

export interface BidResult {
  auctionId: number;
  itemName: string;
  amount: number;
  /** The bidder led already and raised (their hold replaced, never doubled). */
  raisedOwn: boolean;
  /** Whether someone else was outbid (their hold released, their notice scheduled). */
  outbid: boolean;
  endsAt: string;
  extended: boolean;
  /** Spendable besitos left to the bidder. */
  spendable: number;
  nextMinimum: number;
}

export const bidCommand = registerCommand<BidParams, BidResult>({
  name: 'auction.bid',
  params: bidParams,
  async execute({ tx, userId, idempotencyKey, now }, p) {
    const [row] = await tx<AuctionRow[]>`SELECT * FROM auctions WHERE id = ${p.auctionId} FOR UPDATE`;
    const a = row ? toAuction(row) : null;
    const d = decideBid(a, userId, p.amount, now);
    if (!d.ok) throw new AuctionRefused(d.reason, d.minimum);
    const auction = a!;
    const previous = auction.leaderId !== null && auction.leaderId !== userId ? auction : null;
    const next = nextMinimum({ ...auction, leaderBid: p.amount });
    const holdKey = `bid:${idempotencyKey}`;
    // Everything under the auction's lock goes in one round trip: the statements are pipelined on the
    // transaction's connection and run in order; a refused hold is an error that stops the rest.
    // Raising one's own bid replaces the hold (moveHold voids the old one): one hold per user and auction.
    const work: Promise<unknown>[] = [
      moveHold(tx, {
        userId,
        amount: p.amount,
        reference: holdReference(auction.id),
        idempotencyKey: holdKey,
        now,
        release: previous ? { holdId: previous.leaderHoldId!, userId: previous.leaderId!, reason: 'outbid' } : undefined,
      }),
      tx`
        WITH old AS (UPDATE auction_bids SET status = 'outbid' WHERE auction_id = ${auction.id} AND status = 'leading' RETURNING id),
             bid AS (
               INSERT INTO auction_bids (auction_id, user_id, amount, idempotency_key, created_at)
               SELECT ${auction.id}, ${userId}, ${p.amount}, ${idempotencyKey}, ${now} FROM (SELECT count(*) FROM old) o
               RETURNING id)
        UPDATE auctions
           SET leader_id = ${userId}, leader_bid = ${p.amount}, bids = bids + 1, ends_at = ${d.endsAt},
               leader_hold_id = (SELECT id FROM besitos_holds WHERE idempotency_key = ${holdKey})
         WHERE id = ${auction.id} AND EXISTS (SELECT 1 FROM bid)`,
    ];
    if (d.extended) work.push(reschedule(tx, { key: endJobKey(auction.id), dueAt: d.endsAt }));
    if (previous) {
      work.push(
        scheduleAuctionNotice(tx, `${auction.id}:outbid:${idempotencyKey}`, previous.leaderId!, {
          kind: 'outbid',
          auctionId: auction.id,
          itemName: auction.itemName,
          amount: p.amount,
          released: previous.leaderBid!,
          minimum: next,
          endsAt: d.endsAt.toISOString(),
        }, now),
      );
    }
    const settled = await Promise.allSettled(work);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw settled[0]!.status === 'rejected' ? settled[0]!.reason : failed.reason;
    const held = (settled[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof moveHold>>>).value;
    return {
      auctionId: auction.id,
      itemName: auction.itemName,
      amount: p.amount,
      raisedOwn: d.raisesOwn,
      outbid: previous !== null,
      endsAt: d.endsAt.toISOString(),
      extended: d.extended,
      spendable: held.spendable,
      nextMinimum: next,
    };
  },
});

// ── Reading ──────────────────────────────────────────────────────────────────────────────────────

/** Open auctions (running or about to start), soonest end first. */
export async function openAuctions(db: Queryable, now: Date, limit = 10): Promise<Auction[]> {
  const rows = await db<AuctionRow[]>`
    SELECT * FROM auctions WHERE status = 'open' AND ends_at > ${now} ORDER BY ends_at, id LIMIT ${limit}`;
  return rows.map(toAuction);
}

export async function findAuction(db: Queryable, id: number): Promise<Auction | null> {
  const [row] = await db<AuctionRow[]>`SELECT * FROM auctions WHERE id = ${id}`;
  return row ? toAuction(row) : null;
}

// ── /borrar ──────────────────────────────────────────────────────────────────────────────────────

/**
 * A bidder erases their data: every hold of theirs is released; an auction they lead loses its leader
 * (the next bid starts again from the minimum, the other bidders are told) and their bids lose the
 * link to them (amounts stay: the auction's history). Runs in /borrar's transaction, after the user row
 * was locked.
 */
export async function eraseBidder(tx: Tx, userId: number, now: Date): Promise<void> {
  const led = await tx<AuctionRow[]>`SELECT * FROM auctions WHERE leader_id = ${userId} AND status = 'open' ORDER BY id FOR UPDATE`;
  for (const row of led) {
    const a = toAuction(row);
    await voidHold(tx, a.leaderHoldId!, 'erased', now);
    await tx`UPDATE auction_bids SET status = 'withdrawn' WHERE auction_id = ${a.id} AND status = 'leading'`;
    await tx`UPDATE auctions SET leader_id = NULL, leader_bid = NULL, leader_hold_id = NULL WHERE id = ${a.id}`;
    for (const u of await bidders(tx, a.id)) {
      if (u === userId) continue;
      await scheduleAuctionNotice(tx, `${a.id}:left:${userId}:${u}`, u, { kind: 'leader_left', auctionId: a.id, itemName: a.itemName, minimum: a.minBid }, now);
    }
  }
  await voidHoldsOf(tx, userId, 'erased', now);
  await tx`UPDATE auction_bids SET user_id = NULL WHERE user_id = ${userId}`;
}
