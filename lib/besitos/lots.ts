/**
 * Expiring bonus besitos as lots (sql/161_besitos_lots.sql). A bonus grant opens a lot that expires
 * `economyPolicy.bonus.expireDays` after the grant. Rules (all in the ledger's transactions, with the
 * balance row locked first):
 *   - Spending (and the sender's side of a gift) takes from open lots first, soonest expiry first, then
 *     from the non-expiring part.
 *   - A gift carries the lots it took: the receiver gets lots with the same expiry (bonus besitos don't
 *     become permanent by passing them to a friend); the rest arrives as non-expiring besitos.
 *   - A reversal of a credit takes back from the lots that credit opened first, then from the
 *     non-expiring part, then from other lots soonest first; a reversal of a debit gives back to new
 *     lots with the expiry of the lots the debit took from (an expired one is expired again by its job).
 *   - At its expiry a job writes an `expire` spend (source 'expire') for what the lot still holds,
 *     once (job key and ledger key per lot), and the user is told; 3 days before, the user is warned.
 * Invariant: user_balances.bonus_besitos = Σ open lots' remaining ≤ besitos (tests/support/ledger.ts).
 */
import { z } from 'zod';
import { lazy } from '../lazy.js';
import type postgres from 'postgres';
import { jobHandlers, schedule, scheduleCte, type JobHandler } from '../scheduler/index.js';
import { formatWhen } from '../time/format.js';
import { localDate } from '../time/zone.js';
import { economyPolicy } from './policy.js';

type Tx = postgres.TransactionSql<{}>;

export interface OpenLot {
  id: number;
  remaining: number;
  expiresAt: Date;
}

export interface LotTake {
  lotId: number;
  amount: number;
  expiresAt: Date;
}

/**
 * Pure: which lots `amount` takes, preferred lots first, then soonest expiry (then oldest) first.
 * Takes at most what the lots hold; the caller takes the rest from the non-expiring part.
 */
export function takeFromLots(lots: OpenLot[], amount: number, prefer: ReadonlySet<number> = new Set()): LotTake[] {
  const order = [...lots]
    .filter((l) => l.remaining > 0)
    .sort((a, b) => Number(prefer.has(b.id)) - Number(prefer.has(a.id)) || a.expiresAt.getTime() - b.expiresAt.getTime() || a.id - b.id);
  const takes: LotTake[] = [];
  let left = amount;
  for (const l of order) {
    if (left <= 0) break;
    const t = Math.min(l.remaining, left);
    takes.push({ lotId: l.id, amount: t, expiresAt: l.expiresAt });
    left -= t;
  }
  return takes;
}

export const sumTakes = (takes: { amount: number }[]) => takes.reduce((s, t) => s + t.amount, 0);

/** The user's open lots, locked (the caller holds the balance row's lock already). */
export async function lockOpenLots(tx: Tx, userId: number): Promise<OpenLot[]> {
  const rows = await tx<{ id: number; remaining: number; expires_at: Date }[]>`
    SELECT id, remaining, expires_at FROM besitos_lots
     WHERE user_id = ${userId} AND remaining > 0 ORDER BY expires_at, id FOR UPDATE`;
  return rows.map((r) => ({ id: Number(r.id), remaining: Number(r.remaining), expiresAt: new Date(r.expires_at) }));
}

/** Applies takes: lowers the lots and records the moves of `transactionId`. */
export async function applyTakes(tx: Tx, transactionId: number, takes: LotTake[]): Promise<void> {
  if (takes.length === 0) return;
  const ids = takes.map((t) => t.lotId);
  const amounts = takes.map((t) => t.amount);
  await tx`
    WITH t AS (SELECT * FROM unnest(${ids}::bigint[], ${amounts}::bigint[]) AS t(lot_id, amount)),
    upd AS (
      UPDATE besitos_lots l SET remaining = l.remaining - t.amount FROM t WHERE l.id = t.lot_id RETURNING l.id
    )
    INSERT INTO besitos_lot_moves (transaction_id, lot_id, amount)
    SELECT ${transactionId}, t.lot_id, -t.amount FROM t`;
}

/**
 * Opens lots for `userId` from ledger row `transactionId` (the caller adds their sum to
 * bonus_besitos in its balance update) and schedules their warning and expiry.
 */
export async function openLots(tx: Tx, userId: number, transactionId: number, lots: { amount: number; expiresAt: Date }[], now: Date, timeZone: string): Promise<number[]> {
  const list = lots.filter((l) => l.amount > 0);
  if (list.length === 0) return [];
  const rows = await tx<{ id: number; amount: number; expires_at: Date }[]>`
    WITH l AS (
      INSERT INTO besitos_lots (user_id, transaction_id, amount, remaining, expires_at)
      SELECT ${userId}, ${transactionId}, a, a, e
        FROM unnest(${list.map((l) => l.amount)}::bigint[], ${list.map((l) => l.expiresAt.toISOString())}::timestamptz[]) AS x(a, e)
      RETURNING id, amount, expires_at
    ), m AS (
      INSERT INTO besitos_lot_moves (transaction_id, lot_id, amount) SELECT ${transactionId}, id, amount FROM l
    )
    SELECT * FROM l`;
  for (const r of rows) {
    const expiresAt = new Date(r.expires_at);
    await schedule(tx, { kind: expireJob.kind, key: `besitos.bonus_expire:${r.id}`, dueAt: new Date(Math.max(expiresAt.getTime(), now.getTime())), payload: { lot_id: Number(r.id) } });
    const warnAt = new Date(expiresAt.getTime() - economyPolicy.bonus.warnDaysBefore * 86_400_000);
    // One warning per user and local day of expiry, however many lots expire that day.
    if (warnAt > now)
      await schedule(tx, {
        kind: noticeJob.kind,
        key: `besitos.bonus_warn:${userId}:${localDate(expiresAt, timeZone)}`,
        dueAt: warnAt,
        payload: { user_id: userId, what: 'warn', until: expiresAt.toISOString() },
      });
  }
  return rows.map((r) => Number(r.id));
}

type Db = postgres.Sql<{}> | Tx;

/**
 * A bonus grant's lot, as parts of the ledger's grant statement (ledger.ts move(), after `ins`, the new
 * ledger row; nothing happens on a replay or a refusal, which write no row): the lot, its move, and
 * the expiry and warning jobs openLots schedules, same keys — the expiry's key holds the lot's id,
 * known only inside the statement. The caller adds the amount to bonus_besitos in its balance update
 * and notes the triggers the final SELECT lists with grantLotTriggers.
 */
export function grantLotCte(db: Db, p: { userId: number; expiresAt: Date; now: Date; timeZone: string }) {
  const warnAt = new Date(p.expiresAt.getTime() - economyPolicy.bonus.warnDaysBefore * 86_400_000);
  const warn = { user_id: p.userId, what: 'warn' as const, until: p.expiresAt.toISOString() };
  return db`lot AS (
        INSERT INTO besitos_lots (user_id, transaction_id, amount, remaining, expires_at)
        SELECT user_id, id, amount, amount, ${p.expiresAt} FROM ins
        RETURNING id, transaction_id, amount
      ), lot_move AS (
        INSERT INTO besitos_lot_moves (transaction_id, lot_id, amount) SELECT transaction_id, id, amount FROM lot
      ), ${scheduleCte(db, 'lot_expire', {
        kind: expireJob.kind,
        from: 'lot',
        key: db`'besitos.bonus_expire:' || lot.id`,
        payload: db`jsonb_build_object('lot_id', lot.id)`,
        sample: { lot_id: 1 },
        dueAt: new Date(Math.max(p.expiresAt.getTime(), p.now.getTime())),
      })}, ${
        warnAt > p.now
          ? scheduleCte(db, 'lot_warn', {
              kind: noticeJob.kind,
              from: 'lot',
              key: db`${`besitos.bonus_warn:${p.userId}:${localDate(p.expiresAt, p.timeZone)}`}::text`,
              payload: db`${db.json(warn as never)}::jsonb`,
              sample: warn,
              dueAt: warnAt,
            })
          : db`lot_warn_trigger AS (SELECT NULL::uuid AS event_id WHERE false)`
      }`;
}

/** The final SELECT's column of a grantLotCte statement: the trigger event ids it wrote. */
export function grantLotTriggers(db: Db) {
  return db`(SELECT array_agg(event_id::text) FROM (SELECT event_id FROM lot_expire_trigger UNION ALL SELECT event_id FROM lot_warn_trigger) t)`;
}

/**
 * The balance row of a spend, locked (`bal`) only when the statement's snapshot shows bonus besitos:
 * a user without any pays no lock and reads no lot. The spend's balance update must then find
 * bonus_besitos still 0 (`EXISTS bal OR bonus_besitos = 0`); a lot opened meanwhile makes it refuse,
 * and the ledger sends it again under the lock.
 */
export function spendBalCte(db: Db, userId: number) {
  return db`bal AS (
        SELECT bonus_besitos FROM user_balances
         WHERE user_id = ${userId} AND (SELECT bonus_besitos > 0 FROM user_balances WHERE user_id = ${userId})
         FOR UPDATE
      ), `;
}

/**
 * A spend's takes from the user's open lots, as parts of the ledger's spend statement (after `bal`,
 * the balance row locked with its bonus_besitos, `upd`, which lowered bonus_besitos by
 * LEAST(amount, bonus_besitos), and `ins`): soonest expiry first (then oldest), partial takes, each
 * recorded as a move of the new ledger row. The lots are locked after the balance row, as everywhere
 * (expiry job, holds, reversals).
 */
export function spendLotsCte(db: Db, p: { userId: number; amount: number }) {
  return db`lots AS (
        SELECT id, remaining, expires_at FROM besitos_lots
         WHERE user_id = ${p.userId} AND remaining > 0 AND (SELECT bonus_besitos FROM bal) > 0
         ORDER BY expires_at, id FOR UPDATE
      ), takes AS (
        SELECT id, LEAST(remaining, ${p.amount}::bigint - before) AS amount
          FROM (SELECT id, remaining, sum(remaining) OVER (ORDER BY expires_at, id) - remaining AS before FROM lots) x
         WHERE before < ${p.amount}::bigint
      ), lot_take AS (
        UPDATE besitos_lots l SET remaining = l.remaining - t.amount FROM takes t, ins WHERE l.id = t.id
      ), lot_take_move AS (
        INSERT INTO besitos_lot_moves (transaction_id, lot_id, amount) SELECT ins.id, t.id, -t.amount FROM takes t, ins
      )`;
}

/**
 * True when the lots a spendLotsCte statement read do not add up to the locked balance's bonus: a lot
 * was opened (a gift, a bonus grant, a reversal) by a transaction that committed after the statement's
 * snapshot while it waited for the balance row. The statement is aborted (ledger_abort_if) and sent
 * again with the lock already held, so that FIFO and bonus_besitos = Σ open lots hold.
 */
export function spendLotsStale(db: Db) {
  return db`EXISTS (SELECT 1 FROM bal) AND (SELECT bonus_besitos FROM bal) <> (SELECT COALESCE(sum(remaining), 0) FROM lots)`;
}

/** When a bonus granted at `now` expires. */
export function bonusExpiry(now: Date): Date {
  return new Date(now.getTime() + economyPolicy.bonus.expireDays * 86_400_000);
}

export interface ExpiringSummary {
  amount: number;
  expiresAt: Date;
}

/** What the user has expiring, grouped by expiry instant, soonest first (for /balance, /perfil). */
export async function expiringBonus(db: postgres.Sql<{}> | Tx, userId: number, limit = 3): Promise<ExpiringSummary[]> {
  const rows = await db<{ amount: number; expires_at: Date }[]>`
    SELECT sum(remaining)::bigint AS amount, expires_at FROM besitos_lots
     WHERE user_id = ${userId} AND remaining > 0 GROUP BY expires_at ORDER BY expires_at LIMIT ${limit}`;
  return rows.map((r) => ({ amount: Number(r.amount), expiresAt: new Date(r.expires_at) }));
}

/** "⏳ 30 besitos bonus caducan mañana a las 17:05" lines. */
export function expiringLines(list: ExpiringSummary[], timeZone: string, now: Date): string[] {
  return list.map((e) => `⏳ <b>${e.amount}</b> besitos bonus caducan ${formatWhen(e.expiresAt, timeZone, now)}`);
}

// ---- jobs ----

/** Set by ledger.ts (which imports this file): the expiry's spend, written through the ledger. */
let expireSpend: ((tx: Tx, lot: { id: number; userId: number; amount: number }, now: Date) => Promise<{ balanceAfter: number }>) | null = null;
export function setExpireSpend(fn: typeof expireSpend): void {
  expireSpend = fn;
}

/** How long an expiry waits for a hold on the lot's besitos to end before it looks again. */
export const HELD_RETRY_MS = 3_600_000;

const expirePayload = lazy(() => z.object({ lot_id: z.number().int().positive() }));

/**
 * A lot's expiry: locks the balance row, then the lot; what it still holds leaves through an
 * `expire` spend (ledger key per lot), and the user is told. Runs once per lot (job key); a second
 * run, or a run after the lot was spent, finds nothing left and does nothing.
 */
export const expireJob: JobHandler<z.output<typeof expirePayload>> = {
  kind: 'besitos.bonus_expire',
  payload: expirePayload,
  async run(tx, { lot_id }, ctx) {
    const [lot] = await tx<{ user_id: number }[]>`SELECT user_id FROM besitos_lots WHERE id = ${lot_id}`;
    if (!lot) return;
    const userId = Number(lot.user_id);
    const [bal] = await tx<{ spendable: number }[]>`SELECT besitos - held AS spendable FROM user_balances WHERE user_id = ${userId} FOR UPDATE`;
    const [l] = await tx<{ remaining: number; expires_at: Date }[]>`SELECT remaining, expires_at FROM besitos_lots WHERE id = ${lot_id} FOR UPDATE`;
    if (!l || Number(l.remaining) === 0) return;
    if (new Date(l.expires_at) > ctx.now) {
      // Early (a clock moved back): run again at its time.
      await schedule(tx, { kind: expireJob.kind, key: `besitos.bonus_expire:${lot_id}:${new Date(l.expires_at).getTime()}`, dueAt: new Date(l.expires_at), payload: { lot_id } });
      return;
    }
    if (Number(bal?.spendable ?? 0) < Number(l.remaining)) {
      // Part of the lot is held by a bid (lib/besitos/holds.ts): it cannot leave while held. Look again
      // in an hour — by then the auction may have posted the hold (which spends the lot first) or voided it.
      const retryAt = new Date(ctx.now.getTime() + HELD_RETRY_MS);
      await schedule(tx, { kind: expireJob.kind, key: `besitos.bonus_expire:${lot_id}:held:${retryAt.getTime()}`, dueAt: retryAt, payload: { lot_id } });
      return;
    }
    if (!expireSpend) throw new Error('lib/besitos/ledger.ts not loaded');
    const amount = Number(l.remaining);
    const r = await expireSpend(tx, { id: lot_id, userId, amount }, ctx.now);
    const [live] = await tx`SELECT 1 FROM users WHERE id = ${userId} AND deleted_at IS NULL`;
    if (live)
      await schedule(tx, {
        kind: noticeJob.kind,
        key: `besitos.bonus_expired:${lot_id}`,
        dueAt: ctx.now,
        payload: { user_id: userId, what: 'expired', amount, balance: r.balanceAfter },
      });
  },
};

const noticePayload = lazy(() => z.discriminatedUnion('what', [
  z.object({ user_id: z.number().int().positive(), what: z.literal('warn'), until: z.string().datetime() }),
  z.object({ user_id: z.number().int().positive(), what: z.literal('expired'), amount: z.number().int().positive(), balance: z.number().int().min(0) }),
]));

export function expiredText(amount: number, balance: number): string {
  return `⌛ Caducaron <b>${amount} besitos bonus</b> que no llegaste a usar. Tu saldo ahora: <b>${balance}</b> besitos.`;
}

export function warnText(amount: number, expiresAt: Date, timeZone: string, now: Date): string {
  return (
    `⏳ Tienes <b>${amount} besitos bonus</b> que caducan ${formatWhen(expiresAt, timeZone, now, { zone: true })}.\n` +
    'Se gastan primero cuando compras en la /tienda: ¡úsalos antes de que se pierdan!'
  );
}

/** The warning (3 days before: what is still unspent then) and the "they expired" notice. */
export const noticeJob: JobHandler<z.output<typeof noticePayload>> = {
  kind: 'besitos.bonus_notice',
  payload: noticePayload,
  async run(tx, n, ctx) {
    if (!ctx.telegram) throw new Error('no Bot API client to send the bonus notice');
    const [user] = await tx<{ telegram_id: number | null }[]>`SELECT telegram_id FROM users WHERE id = ${n.user_id} AND deleted_at IS NULL`;
    if (!user?.telegram_id) return; // erased meanwhile: nobody to tell
    let text: string;
    if (n.what === 'warn') {
      // What is still unspent and expires by the end of that day.
      const until = new Date(n.until);
      const [row] = await tx<{ amount: number | null; first: Date | null }[]>`
        SELECT sum(remaining)::bigint AS amount, min(expires_at) AS first FROM besitos_lots
         WHERE user_id = ${n.user_id} AND remaining > 0 AND expires_at > ${ctx.now} AND expires_at <= ${new Date(until.getTime() + 86_400_000)}`;
      if (!row?.amount || !row.first) return;
      text = warnText(Number(row.amount), new Date(row.first), ctx.timeZone, ctx.now);
    } else {
      text = expiredText(n.amount, n.balance);
    }
    try {
      await ctx.telegram.sendMessage(Number(user.telegram_id), text, { parse_mode: 'HTML' });
    } catch (err) {
      const code = (err as { response?: { error_code?: number } }).response?.error_code;
      if (code === 403 || code === 400) return; // blocked the bot / chat gone: retrying cannot help
      throw err;
    }
  },
};

jobHandlers.ensure(expireJob);
jobHandlers.ensure(noticeJob);
