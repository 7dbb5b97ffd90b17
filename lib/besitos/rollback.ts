import type { Queryable } from '../db/client.js';
import { newEvent, publish } from '../bus/outbox.js';
import { ReversalNotPossible, TransactionNotFound } from './errors.js';
import { planCreditReversals, reverseTransaction } from './ledger.js';
import { applyTakes, sumTakes, type LotTake } from './lots.js';

/**
 * Rollback of grants an admin decides were wrong (a bug that over-granted, a farmer): compensating
 * 'reversal' rows (never an edit), in the caller's transaction (the admin's command, so its action row
 * is the audit trail and its idempotency key makes a replay return the first result).
 *
 * A grant's rollback takes back what the user still has: a balance never goes below zero, and what was
 * already spent is reported per user as the shortfall. Every grant is rolled back at most once, even
 * when nothing could be taken (economy_rollback_items, primary key transaction_id): asking again,
 * or a second admin asking at the same time, takes nothing more. The users' balance rows are locked
 * in user_id order (as transfers lock them), so a spend racing the rollback waits and then sees the
 * balance after it; the check for "already rolled back" runs under those locks.
 */

export interface UserRollback {
  userId: number;
  amount: number;
  taken: number;
  shortfall: number;
  grants: number;
}

export interface RollbackOutcome {
  /** Grants found by the request (including those rolled back before). */
  found: number;
  /** Grants rolled back now. */
  rolledBack: number;
  /** Grants that an earlier rollback (or a reversal) had already handled: untouched. */
  alreadyDone: number;
  amount: number;
  taken: number;
  shortfall: number;
  /** Per user, for the grants rolled back now; users with a shortfall first. */
  users: UserRollback[];
}

export interface RollbackRequest {
  /** The admin's action (lib/commands): names the reversal rows' keys and links the items. */
  actionId: number;
  reason: string;
}

interface GrantRow {
  id: number;
  user_id: number;
  amount: number;
}

const empty = (): RollbackOutcome => ({ found: 0, rolledBack: 0, alreadyDone: 0, amount: 0, taken: 0, shortfall: 0, users: [] });

interface RollbackItem {
  transaction_id: number;
  user_id: number;
  amount: number;
  taken: number;
  shortfall: number;
  balance_after: number;
}

interface RollbackState {
  /** Balance and besitos held by auction bids (lib/besitos/holds.ts: not taken back, only what is spendable). */
  balances: Map<number, { besitos: number; held: number }>;
  /** Grants an earlier rollback or a reversal already handled. */
  done: Set<number>;
}

/** The users' balances and the grants already handled; `lock`: the balance rows FOR UPDATE, in user_id order. */
async function rollbackState(tx: Queryable, grants: GrantRow[], lock: boolean): Promise<RollbackState> {
  const userIds = [...new Set(grants.map((g) => Number(g.user_id)))].sort((a, b) => a - b);
  const rows = await tx<{ user_id: string; besitos: string; held: string }[]>`
    SELECT user_id, besitos, held FROM user_balances WHERE user_id IN ${tx(userIds)} ORDER BY user_id ${lock ? tx`FOR UPDATE` : tx``}`;
  const ids = grants.map((g) => Number(g.id));
  const done = await tx<{ id: string }[]>`
    SELECT reverses AS id FROM transactions WHERE reverses IN ${tx(ids)}
    UNION SELECT transaction_id FROM economy_rollback_items WHERE transaction_id IN ${tx(ids)}`;
  return {
    balances: new Map(rows.map((b) => [Number(b.user_id), { besitos: Number(b.besitos), held: Number(b.held) }])),
    done: new Set(done.map((d) => Number(d.id))),
  };
}

/** What rolling these grants back takes and leaves, per grant and per user (no I/O): the rollback and its preview. */
function planRollback(grants: GrantRow[], state: RollbackState): { out: RollbackOutcome; items: RollbackItem[]; perUser: Map<number, UserRollback> } {
  const out = empty();
  out.found = grants.length;
  const balance = new Map([...state.balances].map(([id, b]) => [id, b.besitos]));
  const items: RollbackItem[] = [];
  const perUser = new Map<number, UserRollback>();
  for (const g of [...grants].sort((a, b) => Number(a.id) - Number(b.id))) {
    const id = Number(g.id);
    const userId = Number(g.user_id);
    const amount = Number(g.amount);
    if (state.done.has(id)) {
      out.alreadyDone++;
      continue;
    }
    const has = balance.get(userId) ?? 0;
    const taken = Math.max(0, Math.min(has - (state.balances.get(userId)?.held ?? 0), amount));
    balance.set(userId, has - taken);
    items.push({ transaction_id: id, user_id: userId, amount, taken, shortfall: amount - taken, balance_after: has - taken });
    const u = perUser.get(userId) ?? { userId, amount: 0, taken: 0, shortfall: 0, grants: 0 };
    u.amount += amount;
    u.taken += taken;
    u.shortfall += amount - taken;
    u.grants++;
    perUser.set(userId, u);
  }
  out.rolledBack = items.length;
  for (const u of perUser.values()) {
    out.amount += u.amount;
    out.taken += u.taken;
    out.shortfall += u.shortfall;
  }
  out.users = [...perUser.values()].sort((a, b) => b.shortfall - a.shortfall || b.amount - a.amount || a.userId - b.userId);
  return { out, items, perUser };
}

async function rollbackGrantRows(tx: Queryable, grants: GrantRow[], r: RollbackRequest): Promise<RollbackOutcome> {
  if (grants.length === 0) return empty();
  const { out, items, perUser } = planRollback(grants, await rollbackState(tx, grants, true));
  if (items.length === 0) return out;

  const takes = [...perUser.values()].filter((u) => u.taken > 0);
  // Bonus lots (lib/besitos/lots.ts): a rolled-back grant takes back the lot it opened first, then the
  // non-expiring part, then other lots; bonus_besitos drops with the balance in the same UPDATE.
  const lotTakes = new Map<number, LotTake[]>();
  const lotTaken = new Map<number, number>();
  for (const u of takes) {
    const plan = await planCreditReversals(tx, u.userId, items.filter((i) => i.user_id === u.userId && i.taken > 0).map((i) => ({ id: i.transaction_id, amount: i.taken })));
    for (const [id, t] of plan) lotTakes.set(id, t);
    lotTaken.set(u.userId, [...plan.values()].reduce((sum, t) => sum + sumTakes(t), 0));
  }
  if (takes.length > 0) {
    const updated = await tx<{ user_id: string }[]>`
      UPDATE user_balances b
         SET besitos = b.besitos - x.taken, bonus_besitos = b.bonus_besitos - x.lot_taken,
             lifetime_besitos = GREATEST(b.lifetime_besitos - x.taken, 0), updated_at = now()
        FROM jsonb_to_recordset(${tx.json(takes.map((u) => ({ user_id: u.userId, taken: u.taken, lot_taken: lotTaken.get(u.userId) ?? 0 })) as never)}) AS x(user_id bigint, taken bigint, lot_taken bigint)
       WHERE b.user_id = x.user_id AND b.besitos - b.held >= x.taken
      RETURNING b.user_id`;
    // Cannot happen under the locks; if it ever did, roll everything back rather than leave half a rollback.
    if (updated.length !== takes.length) throw new ReversalNotPossible('a balance changed under the rollback locks');
  }
  const reversals = items.filter((i) => i.taken > 0);
  const reversalIds = new Map<number, number>();
  if (reversals.length > 0) {
    const rows = await tx<{ id: string; reverses: string }[]>`
      INSERT INTO transactions (user_id, amount, type, source, description, metadata, balance_after, idempotency_key, reverses)
      SELECT x.user_id, -x.taken, 'reversal', o.source, ${r.reason}, jsonb_build_object('reason', ${r.reason}::text, 'rollback_action', ${r.actionId}::bigint, 'shortfall', x.shortfall),
             x.balance_after, 'rollback:' || ${r.actionId}::text || ':' || x.transaction_id, x.transaction_id
        FROM jsonb_to_recordset(${tx.json(reversals as never)}) AS x(transaction_id bigint, user_id bigint, taken bigint, shortfall bigint, balance_after bigint)
        JOIN transactions o ON o.id = x.transaction_id
       ORDER BY x.transaction_id
      RETURNING id, reverses`;
    for (const row of rows) reversalIds.set(Number(row.reverses), Number(row.id));
    for (const [grantId, t] of lotTakes) await applyTakes(tx as never, reversalIds.get(grantId)!, t);
    const sources = new Map(grants.map((g) => [Number(g.id), (g as GrantRow & { source?: string }).source ?? 'admin']));
    await publish(
      tx,
      ...reversals.map((i) =>
        newEvent(
          'gamification.besitos_spent',
          {
            amount: i.taken,
            source: sources.get(i.transaction_id)!,
            transaction_id: reversalIds.get(i.transaction_id)!,
            balance_after: i.balance_after,
            reversal_of: i.transaction_id,
          },
          i.user_id,
        ),
      ),
    );
  }
  await tx`
    INSERT INTO economy_rollback_items (transaction_id, action_id, user_id, amount, taken, shortfall, reversal_id)
    SELECT x.transaction_id, ${r.actionId}, x.user_id, x.amount, x.taken, x.shortfall, x.reversal_id
      FROM jsonb_to_recordset(${tx.json(items.map((i) => ({ ...i, reversal_id: reversalIds.get(i.transaction_id) ?? null })) as never)})
        AS x(transaction_id bigint, user_id bigint, amount bigint, taken bigint, shortfall bigint, reversal_id bigint)`;

  return out;
}

export interface WindowRollback extends RollbackRequest {
  source: string;
  from: Date;
  to: Date;
}

/**
 * Every grant of a source with from ≤ created_at < to. A family name (`reaction`) covers its details
 * (`reaction:post:42`); a detailed name only itself. A window with no grant: found = 0.
 */
export async function rollbackSourceWindow(tx: Queryable, r: WindowRollback): Promise<RollbackOutcome> {
  return rollbackGrantRows(tx, await windowGrants(tx, r), r);
}

function windowGrants(tx: Queryable, r: Pick<WindowRollback, 'source' | 'from' | 'to'>) {
  const family = r.source.includes(':') ? tx`` : tx`OR source LIKE ${`${r.source.replace(/[\\%_]/g, (c) => `\\${c}`)}:%`}`;
  return tx<(GrantRow & { source: string })[]>`
    SELECT id, user_id, amount, source FROM transactions
     WHERE type = 'grant' AND (source = ${r.source} ${family}) AND created_at >= ${r.from} AND created_at < ${r.to}
     ORDER BY id`;
}

/**
 * What rollbackSourceWindow would do now, written nowhere and locking nothing: for the admin's
 * confirmation. Balances may move before the confirmation; the rollback itself decides under its locks.
 */
export async function previewSourceWindow(db: Queryable, r: Pick<WindowRollback, 'source' | 'from' | 'to'>): Promise<RollbackOutcome> {
  const grants = await windowGrants(db, r);
  if (grants.length === 0) return empty();
  return planRollback(grants, await rollbackState(db, grants, false)).out;
}

export interface SingleRollback extends RollbackOutcome {
  /** What the transaction was: a grant is taken back partly if need be; a spend or a gift is reversed whole. */
  type: string;
}

/**
 * One transaction. A grant: as above (partly, if the user spent some). A spend is given back whole; a
 * gift (transfer) is reversed whole or refused if the receiver no longer has it (ReversalNotPossible).
 */
export async function rollbackTransaction(tx: Queryable, r: RollbackRequest & { transactionId: number }): Promise<SingleRollback> {
  const [row] = await tx<(GrantRow & { type: string; source: string })[]>`
    SELECT id, user_id, amount, type, source FROM transactions WHERE id = ${r.transactionId}`;
  if (!row) throw new TransactionNotFound(`transaction ${r.transactionId} not found`);
  if (row.type === 'reversal') throw new ReversalNotPossible('a reversal cannot be reversed');
  if (row.type === 'grant') return { type: row.type, ...(await rollbackGrantRows(tx, [row], r)) };
  const out: SingleRollback = { type: row.type, ...empty(), found: 1 };
  const [already] = await tx`SELECT 1 FROM transactions WHERE reverses = ${row.id}`;
  if (already) return { ...out, alreadyDone: 1 };
  const rev = await reverseTransaction(tx, { transactionId: row.id, idempotencyKey: `rollback:${r.actionId}:${row.id}`, reason: r.reason });
  if (rev.replayed) return { ...out, alreadyDone: 1 };
  const amount = Math.abs(Number(row.amount));
  return { ...out, rolledBack: 1, amount, taken: amount, users: rev.reversals.map((e) => ({ userId: e.userId, amount: Math.abs(e.amount), taken: Math.abs(e.amount), shortfall: 0, grants: 1 })) };
}

/** What reversing one movement would do now (rollbackTransaction's preview), written nowhere and locking nothing. */
export interface MovementPreview {
  transactionId: number;
  type: string;
  source: string;
  createdAt: Date;
  /** An earlier rollback or reversal already handled it: nothing to confirm. */
  alreadyDone: boolean;
  /**
   * Each account it would touch: `change` to its balance (negative: taken back) as asked, `shortfall`
   * what cannot be taken (a grant already spent or held by bids; never below zero).
   */
  legs: { userId: number; change: number; shortfall: number }[];
  /** A gift or another whole-only reversal its receiver can no longer cover: it would be refused now. */
  refused: boolean;
}

/**
 * The admin's confirmation for one movement: who, how much, what cannot be taken back. A grant is taken
 * back as far as the balance allows (as rollbackTransaction does); a spend is given back whole; a gift is
 * reversed whole (both legs) or refused. Balances may move before the confirmation: the rollback decides
 * under its locks. TransactionNotFound / ReversalNotPossible (a reversal) as the rollback would throw.
 */
export async function previewTransactionRollback(db: Queryable, transactionId: number): Promise<MovementPreview> {
  const [row] = await db<{ id: string; user_id: string; amount: string; type: string; source: string; idempotency_key: string; created_at: Date }[]>`
    SELECT id, user_id, amount, type, source, idempotency_key, created_at FROM transactions WHERE id = ${transactionId}`;
  if (!row) throw new TransactionNotFound(`transaction ${transactionId} not found`);
  if (row.type === 'reversal') throw new ReversalNotPossible('a reversal cannot be reversed');
  const base = { transactionId, type: row.type, source: row.source, createdAt: new Date(row.created_at), alreadyDone: false, legs: [], refused: false };
  if (row.type === 'grant') {
    const grant = { id: Number(row.id), user_id: Number(row.user_id), amount: Number(row.amount) };
    const { out } = planRollback([grant], await rollbackState(db, [grant], false));
    if (out.alreadyDone) return { ...base, alreadyDone: true };
    return { ...base, legs: out.users.map((u) => ({ userId: u.userId, change: -u.amount, shortfall: u.shortfall })) };
  }
  const legs =
    row.type === 'transfer_in' || row.type === 'transfer_out'
      ? await db<{ id: string; user_id: string; amount: string }[]>`
          SELECT id, user_id, amount FROM transactions WHERE idempotency_key IN ${db([`${row.idempotency_key.replace(/:(in|out)$/, '')}:out`, `${row.idempotency_key.replace(/:(in|out)$/, '')}:in`])} ORDER BY amount`
      : [row];
  const ids = legs.map((l) => Number(l.id));
  const [done] = await db`SELECT 1 FROM transactions WHERE reverses IN ${db(ids)} UNION ALL SELECT 1 FROM economy_rollback_items WHERE transaction_id IN ${db(ids)} LIMIT 1`;
  if (done) return { ...base, alreadyDone: true };
  const balances = await db<{ user_id: string; spendable: string }[]>`
    SELECT user_id, besitos - held AS spendable FROM user_balances WHERE user_id IN ${db(legs.map((l) => Number(l.user_id)))}`;
  const spendable = new Map(balances.map((b) => [Number(b.user_id), Number(b.spendable)]));
  // Whole or nothing (ledger reverseTransaction): a leg that takes more than its account can spend refuses it all.
  const out = legs.map((l) => ({ userId: Number(l.user_id), change: -Number(l.amount), shortfall: 0 }));
  const refused = out.some((l) => l.change < 0 && (spendable.get(l.userId) ?? 0) + l.change < 0);
  return { ...base, legs: out, refused };
}
