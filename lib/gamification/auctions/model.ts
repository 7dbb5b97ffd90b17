import type { Tx } from '../../scheduler/index.js';

export interface Auction {
  id: number;
  itemKey: string;
  itemName: string;
  startsAt: Date;
  endsAt: Date;
  minBid: number;
  increment: number;
  status: 'open' | 'ended' | 'cancelled';
  leaderId: number | null;
  leaderBid: number | null;
  leaderHoldId: number | null;
  bids: number;
  createdBy: number | null;
  winnerId: number | null;
  price: number | null;
  tax: number | null;
}

export interface AuctionRow {
  id: number;
  item_key: string;
  item_name: string;
  starts_at: Date;
  ends_at: Date;
  min_bid: string | number;
  increment: string | number;
  status: Auction['status'];
  leader_id: number | null;
  leader_bid: string | number | null;
  leader_hold_id: number | null;
  bids: number;
  created_by: number | null;
  winner_id: number | null;
  price: string | number | null;
  tax: string | number | null;
}

const num = (v: string | number | null) => (v === null ? null : Number(v));

export function toAuction(r: AuctionRow): Auction {
  return {
    id: Number(r.id),
    itemKey: r.item_key,
    itemName: r.item_name,
    startsAt: new Date(r.starts_at),
    endsAt: new Date(r.ends_at),
    minBid: Number(r.min_bid),
    increment: Number(r.increment),
    status: r.status,
    leaderId: num(r.leader_id),
    leaderBid: num(r.leader_bid),
    leaderHoldId: num(r.leader_hold_id),
    bids: Number(r.bids),
    createdBy: num(r.created_by),
    winnerId: num(r.winner_id),
    price: num(r.price),
    tax: num(r.tax),
  };
}

export const holdReference = (auctionId: number) => `auction:${auctionId}`;
export const endJobKey = (auctionId: number) => `auction.end:${auctionId}`;

/** Bidders of an auction still with an account (to tell them something). */
export async function bidders(tx: Tx, auctionId: number): Promise<number[]> {
  const rows = await tx<{ user_id: number }[]>`
    SELECT DISTINCT b.user_id FROM auction_bids b JOIN users u ON u.id = b.user_id
     WHERE b.auction_id = ${auctionId} AND u.deleted_at IS NULL ORDER BY b.user_id`;
  return rows.map((r) => Number(r.user_id));
}

