/** Pure auction rules (no I/O): the SQL applies them under the auction's row lock. */

/** A bid in the last 2 minutes moves the end to 2 minutes after it (anti-sniping). */
export const ANTI_SNIPING_MS = 2 * 60_000;
/** Share of the price burned as a 'tax' ledger row when an auction ends (seed §4.1: commission). */
export const TAX_RATE = 0.1;
export const MIN_DURATION_MS = 5 * 60_000;
export const MAX_DURATION_MS = 30 * 86_400_000;
export const MAX_BID = 1_000_000;

export interface AuctionState {
  status: 'open' | 'ended' | 'cancelled';
  startsAt: Date;
  endsAt: Date;
  minBid: number;
  increment: number;
  leaderId: number | null;
  leaderBid: number | null;
}

export type BidRefusal =
  | 'not_found'
  | 'not_started'
  | 'closed'
  | 'below_minimum'
  /** Someone else bid this very amount first (two presses of the same button at once). */
  | 'taken'
  /** The bidder already leads with this amount. */
  | 'already_leading';

export type BidDecision =
  | { ok: true; endsAt: Date; extended: boolean; raisesOwn: boolean }
  | { ok: false; reason: BidRefusal; minimum: number };

/** The least the next bid may be: the minimum bid, or the leader's bid plus the increment. */
export function nextMinimum(a: Pick<AuctionState, 'minBid' | 'increment' | 'leaderBid'>): number {
  return a.leaderBid === null ? a.minBid : a.leaderBid + a.increment;
}

/** Whether an auction takes bids at `now` (open, started, not past its end even if the end job is late). */
export function isLive(a: Pick<AuctionState, 'status' | 'startsAt' | 'endsAt'>, now: Date): boolean {
  return a.status === 'open' && now >= a.startsAt && now < a.endsAt;
}

export function decideBid(a: AuctionState | null, bidderId: number, amount: number, now: Date): BidDecision {
  if (!a) return { ok: false, reason: 'not_found', minimum: 0 };
  const minimum = nextMinimum(a);
  if (a.status !== 'open' || now >= a.endsAt) return { ok: false, reason: 'closed', minimum };
  if (now < a.startsAt) return { ok: false, reason: 'not_started', minimum };
  if (a.leaderBid !== null && amount === a.leaderBid) {
    return { ok: false, reason: a.leaderId === bidderId ? 'already_leading' : 'taken', minimum };
  }
  if (!Number.isSafeInteger(amount) || amount < minimum || amount > MAX_BID) return { ok: false, reason: 'below_minimum', minimum };
  const sniping = a.endsAt.getTime() - now.getTime() < ANTI_SNIPING_MS;
  const endsAt = sniping ? new Date(now.getTime() + ANTI_SNIPING_MS) : a.endsAt;
  return { ok: true, endsAt, extended: sniping, raisesOwn: a.leaderId === bidderId };
}

/** The tax burned at the end: 10% of the price, rounded up (at least 1 besito of any price). */
export function taxOf(price: number): number {
  return Math.ceil(price * TAX_RATE);
}

export type CreateRefusal = 'bad_min_bid' | 'bad_increment' | 'too_short' | 'too_long' | 'starts_in_past';

export interface CreateInput {
  minBid: number;
  increment: number;
  startsAt: Date;
  endsAt: Date;
}

export function validateCreate(i: CreateInput, now: Date): CreateRefusal | null {
  if (!Number.isSafeInteger(i.minBid) || i.minBid < 1 || i.minBid > MAX_BID) return 'bad_min_bid';
  if (!Number.isSafeInteger(i.increment) || i.increment < 1 || i.increment > MAX_BID) return 'bad_increment';
  if (i.startsAt.getTime() < now.getTime() - 60_000) return 'starts_in_past';
  const length = i.endsAt.getTime() - i.startsAt.getTime();
  if (length < MIN_DURATION_MS) return 'too_short';
  if (length > MAX_DURATION_MS) return 'too_long';
  return null;
}

/** "90m", "2h", "1d", "1h30m" → milliseconds; null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const m = /^(?:(\d{1,3})d)?(?:(\d{1,4})h)?(?:(\d{1,5})m(?:in)?)?$/i.exec(text.trim());
  if (!m || (!m[1] && !m[2] && !m[3])) return null;
  return (Number(m[1] ?? 0) * 86_400 + Number(m[2] ?? 0) * 3_600 + Number(m[3] ?? 0) * 60) * 1000;
}

/** A whole number of besitos typed by a user ("150", "1.500", "1,500"); null otherwise. */
export function parseAmount(text: string | undefined): number | null {
  if (!text) return null;
  const t = text.trim();
  if (!/^\d{1,3}(?:[.,]\d{3})*$|^\d{1,7}$/.test(t)) return null;
  const n = Number(t.replace(/[.,]/g, ''));
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}
