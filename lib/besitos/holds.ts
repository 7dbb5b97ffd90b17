import type { Queryable } from '../db/client.js';
import { withTransaction } from '../db/transaction.js';
import { newEvent, publish } from '../bus/outbox.js';
import { assertAmount, toEntry, type LedgerEntry, type Row as TransactionRow } from './ledger.js';
import { applyTakes, lockOpenLots, sumTakes, takeFromLots } from './lots.js';
import { HoldNotPending, IdempotencyConflict, InsufficientFunds, UnknownAccount } from './errors.js';

/**
 * Holds (escrow), after TigerBeetle's pending transfers: a hold takes besitos out of what the user can
 * spend without taking them from the user — the balance and the ledger do not change — until it is
 * posted (it becomes a spend: ledger rows then) or voided (released). `user_balances.held` is the sum
 * of the user's pending holds; every spend, transfer and reversal guards on `besitos - held` in its own
 * statement (ledger.ts), so "spendable" is exact under concurrency, and a CHECK (held ≤ besitos) stops
 * any writer that forgets.
 *
 * At most one pending hold per (user, reference) — a unique index. Placing a hold for a reference the
 * user already holds for replaces it (an auction bidder raising their own bid): the old one is voided
 * and the new one placed in the same transaction, and only the difference has to be spendable.
 *
 * Lock order: every change of a user's holds updates that user's balance row first (which serialises
 * them), then the hold rows. Callers that touch several users lock the balance rows in user_id order.
 */

export type HoldStatus = 'pending' | 'posted' | 'voided';

export interface Hold {
  id: number;
  userId: number;
  amount: number;
  reference: string;
  status: HoldStatus;
  idempotencyKey: string;
  voidReason: string | null;
  transactionId: number | null;
  createdAt: Date;
  resolvedAt: Date | null;
}

interface HoldRow {
  id: number;
  user_id: number;
  amount: number;
  reference: string;
  status: HoldStatus;
  idempotency_key: string;
  void_reason: string | null;
  transaction_id: number | null;
  created_at: Date | string;
  resolved_at: Date | string | null;
}

export function toHold(r: HoldRow): Hold {
  return {
    id: Number(r.id),
    userId: Number(r.user_id),
    amount: Number(r.amount),
    reference: r.reference,
    status: r.status,
    idempotencyKey: r.idempotency_key,
    voidReason: r.void_reason,
    transactionId: r.transaction_id === null ? null : Number(r.transaction_id),
    createdAt: new Date(r.created_at),
    resolvedAt: r.resolved_at === null ? null : new Date(r.resolved_at),
  };
}

function assertReference(reference: string): void {
  if (!/^[a-z][a-z0-9_.:-]{0,99}$/.test(reference)) throw new IdempotencyConflict(`bad hold reference ${reference}`);
}

export interface PlaceHoldParams {
  userId: number;
  amount: number;
  reference: string;
  idempotencyKey: string;
  now?: Date;
}

export interface PlaceHoldResult {
  hold: Hold;
  /** The user's previous pending hold for the same reference, now voided (reason 'replaced'). */
  replaced: Hold | null;
  /** Spendable besitos after the hold. */
  spendable: number;
  replayed: boolean;
}

/**
 * Holds `amount` of the user's spendable besitos for `reference`, replacing their pending hold for the
 * same reference. Throws InsufficientFunds (available = spendable, counting the hold it replaces).
 */
export async function placeHold(db: Queryable, p: PlaceHoldParams): Promise<PlaceHoldResult> {
  assertAmount(p.amount);
  assertReference(p.reference);
  const now = p.now ?? new Date();
  return withTransaction(db, async (tx) => {
    const [existing] = await tx<HoldRow[]>`SELECT * FROM besitos_holds WHERE idempotency_key = ${p.idempotencyKey}`;
    if (existing) {
      if (Number(existing.user_id) !== p.userId || Number(existing.amount) !== p.amount || existing.reference !== p.reference) {
        throw new IdempotencyConflict(`hold key ${p.idempotencyKey} was used for a different hold`);
      }
      return { hold: toHold(existing), replaced: null, spendable: -1, replayed: true };
    }
    // One statement: the balance row is locked and the held sum moved by the difference, guarded on
    // what is spendable once the old hold (if any) is released.
    const [bal] = await tx<{ updated: boolean; spendable: number | null; old_amount: number; has_account: boolean }[]>`
      WITH old AS (
        SELECT COALESCE(sum(amount), 0) AS amount FROM besitos_holds
         WHERE user_id = ${p.userId} AND reference = ${p.reference} AND status = 'pending'
      ), upd AS (
        UPDATE user_balances SET held = held - (SELECT amount FROM old) + ${p.amount}, updated_at = now()
         WHERE user_id = ${p.userId} AND besitos - held + (SELECT amount FROM old) >= ${p.amount}
        RETURNING besitos - held AS spendable
      )
      SELECT EXISTS (SELECT 1 FROM upd) AS updated,
             COALESCE((SELECT spendable FROM upd), (SELECT besitos - held + (SELECT amount FROM old) FROM user_balances WHERE user_id = ${p.userId})) AS spendable,
             (SELECT amount FROM old) AS old_amount,
             EXISTS (SELECT 1 FROM user_balances WHERE user_id = ${p.userId}) AS has_account`;
    if (!bal!.has_account) throw new UnknownAccount(p.userId);
    if (!bal!.updated) throw new InsufficientFunds(p.amount, bal!.spendable === null ? null : Number(bal!.spendable));
    // The balance row is ours now: the pending hold read above cannot have changed.
    const [replaced] = await tx<HoldRow[]>`
      UPDATE besitos_holds SET status = 'voided', void_reason = 'replaced', resolved_at = ${now}
       WHERE user_id = ${p.userId} AND reference = ${p.reference} AND status = 'pending'
      RETURNING *`;
    const [hold] = await tx<HoldRow[]>`
      INSERT INTO besitos_holds (user_id, amount, reference, idempotency_key, created_at)
      VALUES (${p.userId}, ${p.amount}, ${p.reference}, ${p.idempotencyKey}, ${now})
      RETURNING *`;
    return { hold: toHold(hold!), replaced: replaced ? toHold(replaced) : null, spendable: Number(bal!.spendable), replayed: false };
  });
}

/**
 * Releases a pending hold (outbid, auction cancelled, the user erased their data). Idempotent: a hold
 * that is no longer pending is returned as it is, with released = false.
 */
export async function voidHold(db: Queryable, holdId: number, reason: string, now: Date = new Date()): Promise<{ hold: Hold | null; released: boolean }> {
  return withTransaction(db, async (tx) => {
    const [owner] = await tx<{ user_id: number }[]>`
      SELECT b.user_id FROM user_balances b JOIN besitos_holds h ON h.user_id = b.user_id WHERE h.id = ${holdId} FOR UPDATE OF b`;
    if (!owner) return { hold: null, released: false };
    const [row] = await tx<(HoldRow & { released: boolean })[]>`
      WITH h AS (
        UPDATE besitos_holds SET status = 'voided', void_reason = ${reason}, resolved_at = ${now}
         WHERE id = ${holdId} AND status = 'pending'
        RETURNING *
      ), b AS (
        UPDATE user_balances SET held = held - (SELECT amount FROM h), updated_at = now()
         WHERE user_id = ${owner.user_id} AND EXISTS (SELECT 1 FROM h)
      )
      SELECT h.*, true AS released FROM h
      UNION ALL
      SELECT x.*, false FROM besitos_holds x WHERE x.id = ${holdId} AND NOT EXISTS (SELECT 1 FROM h)`;
    return { hold: row ? toHold(row) : null, released: Boolean(row?.released) };
  });
}

/** Releases every pending hold of a user (their /borrar); returns what was released. */
export async function voidHoldsOf(db: Queryable, userId: number, reason: string, now: Date = new Date()): Promise<Hold[]> {
  return withTransaction(db, async (tx) => {
    await tx`SELECT 1 FROM user_balances WHERE user_id = ${userId} FOR UPDATE`;
    const rows = await tx<HoldRow[]>`
      UPDATE besitos_holds SET status = 'voided', void_reason = ${reason}, resolved_at = ${now}
       WHERE user_id = ${userId} AND status = 'pending' RETURNING *`;
    const total = rows.reduce((s, r) => s + Number(r.amount), 0);
    if (total > 0) await tx`UPDATE user_balances SET held = held - ${total}, updated_at = now() WHERE user_id = ${userId}`;
    return rows.map(toHold);
  });
}

export interface PostHoldParams {
  holdId: number;
  /** The ledger source of the rows written (e.g. 'auction'). */
  source: string;
  /** Base of the rows' idempotency keys (`<key>:spend`, `<key>:tax`). */
  idempotencyKey: string;
  /** Part of the amount written as a 'tax' row (burned as a commission); the rest is a 'spend'. */
  tax?: number;
  /** The ledger source of the tax row (default: `source`); the economy policy names the sink 'tax'. */
  taxSource?: string;
  description?: string;
  metadata?: Record<string, unknown>;
  now?: Date;
}

export interface PostHoldResult {
  hold: Hold;
  /** The ledger rows the hold became: the spend (when the amount exceeds the tax) and the tax. */
  entries: LedgerEntry[];
  replayed: boolean;
}

/**
 * Posts a pending hold: the held besitos leave the balance as ledger rows — a 'spend' and, with `tax`,
 * a 'tax' row — with gamification.besitos_spent for each, in one transaction. Posting the same hold
 * again returns the rows it became (replayed); a voided hold throws HoldNotPending.
 */
export async function postHold(db: Queryable, p: PostHoldParams): Promise<PostHoldResult> {
  const now = p.now ?? new Date();
  return withTransaction(db, async (tx) => {
    const [owner] = await tx<{ user_id: number }[]>`
      SELECT b.user_id FROM user_balances b JOIN besitos_holds h ON h.user_id = b.user_id WHERE h.id = ${p.holdId} FOR UPDATE OF b`;
    const [row] = await tx<HoldRow[]>`SELECT * FROM besitos_holds WHERE id = ${p.holdId}`;
    if (!owner || !row) throw new HoldNotPending(`hold ${p.holdId} not found`);
    const hold = toHold(row);
    const keys = [`${p.idempotencyKey}:spend`, `${p.idempotencyKey}:tax`];
    if (hold.status === 'posted') {
      const rows = await tx<TransactionRow[]>`SELECT * FROM transactions WHERE idempotency_key IN ${tx(keys)} ORDER BY id`;
      return { hold, entries: rows.map(toEntry), replayed: true };
    }
    if (hold.status !== 'pending') throw new HoldNotPending(`hold ${p.holdId} is ${hold.status}`);
    const tax = Math.min(Math.max(0, Math.floor(p.tax ?? 0)), hold.amount);
    const parts = [
      { type: 'spend' as const, amount: hold.amount - tax, key: keys[0]!, source: p.source },
      { type: 'tax' as const, amount: tax, key: keys[1]!, source: p.taxSource ?? p.source },
    ].filter((x) => x.amount > 0);
    // Posting spends like any spend: bonus lots first, soonest expiry first (lib/besitos/lots.ts), so
    // that bonus_besitos = Σ open lots ≤ besitos keeps holding after the besitos leave.
    const lots = await lockOpenLots(tx, hold.userId);
    const entries: LedgerEntry[] = [];
    for (const part of parts) {
      const takes = takeFromLots(lots, part.amount);
      for (const t of takes) lots.find((l) => l.id === t.lotId)!.remaining -= t.amount;
      const [bal] = await tx<{ besitos: number }[]>`
        UPDATE user_balances
           SET besitos = besitos - ${part.amount}, held = held - ${part.amount}, bonus_besitos = bonus_besitos - ${sumTakes(takes)}, updated_at = now()
         WHERE user_id = ${hold.userId} RETURNING besitos`;
      const [ins] = await tx<TransactionRow[]>`
        INSERT INTO transactions (user_id, amount, type, source, description, metadata, balance_after, idempotency_key, created_at)
        VALUES (${hold.userId}, ${-part.amount}, ${part.type}, ${part.source}, ${p.description ?? null},
                ${tx.json({ ...(p.metadata ?? {}), hold_id: hold.id } as never)}, ${bal!.besitos}, ${part.key}, ${now})
        RETURNING *`;
      entries.push(toEntry(ins!));
      await applyTakes(tx, entries.at(-1)!.id, takes);
    }
    const [posted] = await tx<HoldRow[]>`
      UPDATE besitos_holds SET status = 'posted', resolved_at = ${now}, transaction_id = ${entries[0]!.id}
       WHERE id = ${hold.id} RETURNING *`;
    await publish(
      tx,
      ...entries.map((e) =>
        newEvent('gamification.besitos_spent', { amount: -e.amount, source: e.source, transaction_id: e.id, balance_after: e.balanceAfter }, hold.userId, now),
      ),
    );
    return { hold: toHold(posted!), entries, replayed: false };
  });
}

/** A user's pending holds (for /saldo and /subastas). */
export async function pendingHolds(db: Queryable, userId: number): Promise<Hold[]> {
  const rows = await db<HoldRow[]>`SELECT * FROM besitos_holds WHERE user_id = ${userId} AND status = 'pending' ORDER BY id`;
  return rows.map(toHold);
}

/** The holds invariant for some users (or all): held = Σ pending holds, 0 ≤ held ≤ besitos. */
export async function holdMismatches(db: Queryable, userIds?: number[]) {
  return db<{ user_id: number; held: number; pending: number }[]>`
    SELECT b.user_id, b.held, COALESCE(h.sum, 0)::bigint AS pending
      FROM user_balances b
      LEFT JOIN (SELECT user_id, sum(amount) AS sum FROM besitos_holds WHERE status = 'pending' GROUP BY user_id) h USING (user_id)
     WHERE (b.held <> COALESCE(h.sum, 0) OR b.held < 0 OR b.held > b.besitos)
       ${userIds ? db`AND b.user_id IN ${db(userIds)}` : db``}`;
}

export interface MoveHoldParams extends PlaceHoldParams {
  /** Another user's pending hold voided in the same statement (an auction's previous leader). */
  release?: { holdId: number; userId: number; reason: string };
}

/**
 * The hot path of a bid, in ONE statement: the user's hold for `reference` placed (their pending one
 * for it replaced) and, optionally, another user's hold released; both balance rows locked in user_id
 * order first. Refused with InsufficientFunds as an error raised by the statement (SQLSTATE HD001), so
 * that statements pipelined after it in the same transaction do not run. The caller serialises
 * everything that touches holds of this reference (the auction's row lock): the user's pending hold
 * is read in the statement's snapshot.
 */
export async function moveHold(tx: Queryable, p: MoveHoldParams): Promise<{ holdId: number; spendable: number; replaced: number | null; released: boolean }> {
  assertAmount(p.amount);
  assertReference(p.reference);
  const now = p.now ?? new Date();
  const ids = [p.userId, ...(p.release ? [p.release.userId] : [])].sort((a, b) => a - b);
  try {
    const [row] = await tx<{ hold_id: number; spendable: number; replaced: number | null; released: number }[]>`
      WITH lk AS (
        SELECT user_id FROM user_balances WHERE user_id IN ${tx(ids)} ORDER BY user_id FOR UPDATE
      ), old AS (
        SELECT id, amount FROM besitos_holds WHERE user_id = ${p.userId} AND reference = ${p.reference} AND status = 'pending'
      ), bal AS (
        UPDATE user_balances SET held = held - COALESCE((SELECT amount FROM old), 0) + ${p.amount}, updated_at = now()
         WHERE user_id = ${p.userId} AND (SELECT count(*) FROM lk) > 0
           AND besitos - held + COALESCE((SELECT amount FROM old), 0) >= ${p.amount}
        RETURNING besitos - held AS spendable
      ), refuse AS (
        SELECT besitos_hold_refuse(NOT EXISTS (SELECT 1 FROM bal),
                 (SELECT besitos - held + COALESCE((SELECT amount FROM old), 0) FROM user_balances WHERE user_id = ${p.userId})) AS x
      ), voided AS (
        UPDATE besitos_holds SET status = 'voided', void_reason = 'replaced', resolved_at = ${now}
         WHERE id = (SELECT id FROM old) AND EXISTS (SELECT 1 FROM bal)
        RETURNING id
      ), ins AS (
        INSERT INTO besitos_holds (user_id, amount, reference, idempotency_key, created_at)
        SELECT ${p.userId}, ${p.amount}, ${p.reference}, ${p.idempotencyKey}, ${now}
          FROM bal, (SELECT count(*) FROM voided) v
        RETURNING id
      ), rel AS (
        UPDATE besitos_holds SET status = 'voided', void_reason = ${p.release?.reason ?? 'released'}, resolved_at = ${now}
         WHERE id = ${p.release?.holdId ?? 0} AND user_id = ${p.release?.userId ?? 0} AND status = 'pending' AND EXISTS (SELECT 1 FROM bal)
        RETURNING user_id, amount
      ), relbal AS (
        UPDATE user_balances b SET held = b.held - rel.amount, updated_at = now() FROM rel WHERE b.user_id = rel.user_id
        RETURNING b.user_id
      )
      SELECT (SELECT id FROM ins) AS hold_id, (SELECT spendable FROM bal) AS spendable,
             (SELECT amount FROM old) AS replaced, (SELECT count(*) FROM relbal) AS released, (SELECT x FROM refuse) AS refused`;
    if (!row?.hold_id) throw new UnknownAccount(p.userId);
    return { holdId: Number(row.hold_id), spendable: Number(row.spendable), replaced: row.replaced === null ? null : Number(row.replaced), released: Number(row.released) > 0 };
  } catch (err) {
    if ((err as { code?: string }).code === 'HD001') {
      const available = Number((err as Error).message);
      throw new InsufficientFunds(p.amount, Number.isFinite(available) && available >= 0 ? available : null);
    }
    throw err;
  }
}
