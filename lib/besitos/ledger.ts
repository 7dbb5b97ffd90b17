import type postgres from 'postgres';
import type { Queryable } from '../db/client.js';
import { RetryTransaction, withTransaction } from '../db/transaction.js';
import { isTransientDbError } from '../db/errors.js';
import { newEvent, publish } from '../bus/outbox.js';
import { noteWrittenEvents } from '../bus/written.js';
import { addDays, localDate, startOfLocalDay } from '../time/zone.js';
import { assertSink, economyTimeZone, policyKey, sourcePolicy, type CapPeriod } from './policy.js';
import { applyTakes, bonusExpiry, grantLotCte, grantLotTriggers, lockOpenLots, openLots, setExpireSpend, spendBalCte, spendLotsCte, spendLotsStale, sumTakes, takeFromLots, type LotTake } from './lots.js';
import { firstTimeCte, firstTimeOk } from './first-time.js';
import {
  AlreadyRewarded,
  AlreadyReversed,
  CapReached,
  GuardRefused,
  IdempotencyConflict,
  InsufficientFunds,
  InvalidAmount,
  InvalidTransfer,
  ReversalNotPossible,
  TransactionNotFound,
  UnknownAccount,
} from './errors.js';

export const MAX_AMOUNT = 1_000_000;

/** 'tax': besitos burned as a commission (an auction's 10%), written when a hold is posted (holds.ts). */
export type TransactionType = 'grant' | 'spend' | 'transfer_in' | 'transfer_out' | 'reversal' | 'tax';

export interface LedgerEntry {
  id: number;
  userId: number;
  amount: number;
  type: TransactionType;
  source: string;
  description: string | null;
  metadata: Record<string, unknown>;
  balanceAfter: number;
  idempotencyKey: string;
  reverses: number | null;
  counterpartyId: number | null;
  createdAt: Date;
}

export interface LedgerResult {
  entry: LedgerEntry;
  /** true when the idempotency key had been used: nothing was written, this is the first result. */
  replayed: boolean;
  /** Rows the `alongside` statement wrote (0 on a replay or when it wrote none); absent without one. */
  alongsideRows?: number;
  /** With several `alongside` statements: the rows each wrote, and the first row each returned (as JSON). */
  alongsideEach?: { rows: number; first: Record<string, unknown> | null }[];
}

export interface MoveParams {
  userId: number;
  amount: number;
  /** A source (grants) or a sink (spends) of lib/besitos/policy.ts. */
  source: string;
  idempotencyKey: string;
  description?: string;
  metadata?: Record<string, unknown>;
  /**
   * The abuse pseudonym (lib/users/pseudonym.ts). Caps count per person: this one, else the account's
   * (users.person), else per account when it has none yet.
   */
  person?: string | null;
  /** The injected clock's time: which local day and week the caps count in. Default: now. */
  now?: Date;
  /** Zone of the caps' days and weeks. Default: the app's BOT_TIMEZONE (policy.ts). */
  timeZone?: string;
  /**
   * A write of the caller's that belongs to this movement, sent in the same statement (one round trip
   * fewer): an `INSERT … SELECT … FROM ins … RETURNING 1`, where `ins` is the new ledger row (no row on a
   * replay or a refused spend). Its count comes back as `alongsideRows`; the caller decides what a 0 means.
   */
  alongside?: postgres.PendingQuery<postgres.Row[]> | postgres.PendingQuery<postgres.Row[]>[];
  /**
   * A condition (an SQL boolean) the movement also requires, evaluated in its statement before anything
   * is locked or written: a caller's precondition read in the same statement instead of a round trip
   * before it (issue 18). When it is false nothing is written and the movement throws GuardRefused
   * (a replay still returns the first result).
   */
  guard?: postgres.PendingQuery<postgres.Row[]>;
  /**
   * Grants: a first-time reward's key (`achievement:primer-paso`, `trivia:<question>`): paid once per
   * person whatever account (lib/besitos/first-time.ts); another account of theirs gets AlreadyRewarded.
   */
  firstTime?: string;
  /**
   * Grants: bonus besitos, expiring `economyPolicy.bonus.expireDays` after `now` if unspent (default:
   * the source's policy, e.g. 'event'). Opens a lot (lib/besitos/lots.ts).
   */
  bonus?: boolean;
  /**
   * Grants: a refusal (a cap, a first-time reward another account had, no account) aborts the
   * statement — and the caller's transaction — with a serialization failure (40001; inside a
   * transaction: RetryTransaction) instead of answering. For a caller that sends the grant with its
   * COMMIT without awaiting it (lib/db/transaction.ts withPipelinedTransaction) and, run again, awaits
   * it to say why.
   */
  refusalAborts?: boolean;
}

/** A `transactions` row as SELECT * returns it (holds.ts reads the same rows). */
export interface Row {
  id: number;
  user_id: number;
  amount: number;
  type: TransactionType;
  source: string;
  description: string | null;
  metadata: Record<string, unknown>;
  balance_after: number;
  idempotency_key: string;
  reverses: number | null;
  counterparty_id: number | null;
  created_at: Date | string;
}

export function toEntry(r: Row): LedgerEntry {
  return {
    id: Number(r.id),
    userId: Number(r.user_id),
    amount: Number(r.amount),
    type: r.type,
    source: r.source,
    description: r.description,
    metadata: r.metadata ?? {},
    balanceAfter: Number(r.balance_after),
    idempotencyKey: r.idempotency_key,
    reverses: r.reverses === null ? null : Number(r.reverses),
    counterpartyId: r.counterparty_id === null ? null : Number(r.counterparty_id),
    createdAt: new Date(r.created_at),
  };
}

export function assertAmount(amount: unknown): asserts amount is number {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 1 || amount > MAX_AMOUNT) {
    throw new InvalidAmount(`amount must be an integer between 1 and ${MAX_AMOUNT}, got ${String(amount)}`);
  }
}

function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length < 1 || key.length > 200) {
    throw new IdempotencyConflict('idempotency key must be a non-empty string of at most 200 chars');
  }
}

function assertUserId(id: unknown): asserts id is number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new UnknownAccount(Number(id));
  }
}

function assertSource(source: unknown): asserts source is string {
  if (typeof source !== 'string' || !/^[a-z][a-z0-9_.:-]{0,63}$/.test(source)) {
    throw new InvalidAmount(`source must be a short lowercase identifier, got ${String(source)}`);
  }
}

function checkReplay(existing: LedgerEntry, userId: number, amount: number): LedgerResult {
  if (existing.userId !== userId || Math.abs(existing.amount) !== amount) {
    throw new IdempotencyConflict(`idempotency key ${existing.idempotencyKey} was used for a different operation`);
  }
  return { entry: existing, replayed: true };
}

const LOT_RACE = 'lot opened meanwhile';

/** A spend to send again with the balance row locked: its lots were read stale (spendLotsStale), or it was refused. */
class LotRace extends Error {}

/**
 * Retries a single autocommit statement that aborted itself on an idempotency race (40001). A lot
 * race is not retried here: running it again could miss the next lot too (move() takes the lock first).
 */
async function retryStatement<T>(db: Queryable, fn: () => Promise<T>): Promise<T> {
  const inTransaction = typeof (db as { begin?: unknown }).begin !== 'function';
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== '40001' || attempt >= 4) throw err;
      if (inTransaction) throw new RetryTransaction('ledger idempotency race');
      if ((err as Error).message === LOT_RACE) throw new LotRace(LOT_RACE);
    }
  }
}

/**
 * A grant or a spend in one statement: replay check, guarded balance update, ledger row and outbox
 * event; a bonus grant's lot and its jobs, a spend's takes from lots (lib/besitos/lots.ts). Safe under
 * READ COMMITTED with no lock held across a round trip; if a concurrent writer used the same key first,
 * ledger_abort_if aborts the whole statement and it runs again (then as a replay).
 * A spend refused, or one whose snapshot missed a lot opened meanwhile, is sent again with the balance
 * row locked first (then its snapshot is the latest: lots are opened only under that lock), which
 * tells insufficient funds from a race.
 * `lotsDone`: a spend whose caller moved the lots and bonus_besitos itself (the expiry of one lot).
 */
async function move(db: Queryable, kind: 'grant' | 'spend', p: MoveParams, opts: MoveOptions = {}): Promise<LedgerResult> {
  try {
    return await moveStatement(db, kind, p, opts);
  } catch (err) {
    if (!(err instanceof LotRace)) throw err;
    return withTransaction(db, async (tx) => {
      await tx`SELECT 1 FROM user_balances WHERE user_id = ${p.userId} FOR UPDATE`;
      return moveStatement(tx, kind, p, { ...opts, locked: true });
    });
  }
}

interface MoveOptions {
  lotsDone?: boolean;
  bonus?: boolean;
  /** The caller's transaction holds the balance row's lock (move()'s second try). */
  locked?: boolean;
}

async function moveStatement(db: Queryable, kind: 'grant' | 'spend', p: MoveParams, opts: MoveOptions): Promise<LedgerResult> {
  assertUserId(p.userId);
  assertAmount(p.amount);
  assertKey(p.idempotencyKey);
  assertSource(p.source);
  const caps = kind === 'grant' ? capLimits(p) : null;
  const first = kind === 'grant' && p.firstTime ? p.firstTime : null;
  if (kind === 'spend') assertSink(p.source);
  const delta = kind === 'grant' ? p.amount : -p.amount;
  const lifetimeDelta = kind === 'grant' ? p.amount : 0;
  const lotGrant = kind === 'grant' && opts.bonus;
  const lotSpend = kind === 'spend' && !opts.lotsDone;
  // Lots first on a spend: bonus_besitos = Σ open lots, so the takes add up to LEAST(amount, bonus).
  const bonusDelta = lotGrant ? db`+ ${p.amount}::bigint` : lotSpend ? db`- LEAST(${p.amount}::bigint, bonus_besitos)` : null;
  const now = p.now ?? new Date();
  const lotParts = lotGrant
    ? grantLotCte(db, { userId: p.userId, expiresAt: bonusExpiry(now), now, timeZone: p.timeZone ?? economyTimeZone() })
    : lotSpend
      ? spendLotsCte(db, { userId: p.userId, amount: p.amount })
      : null;
  const event = newEvent(
    kind === 'grant' ? 'gamification.besitos_earned' : 'gamification.besitos_spent',
    { amount: p.amount, source: p.source },
    p.userId,
  );
  const alongside = p.alongside === undefined ? [] : Array.isArray(p.alongside) ? p.alongside : [p.alongside];
  // The guard gates the balance lock too (`bal`), so a refused movement locks nothing but what the guard reads.
  const guarded = p.guard ? db`AND (SELECT ok FROM guard)` : db``;
  return retryStatement(db, async () => {
    const [res] = await db<{ existing: Row | null; inserted: Row | null; has_account: boolean; balance: number | null; alongside_rows?: number; alongside_each?: { rows: number; first: Record<string, unknown> | null }[]; first_refused?: boolean; guard_ok?: boolean | null; triggers?: string[] | null }[]>`
      WITH existing AS (
        SELECT * FROM transactions WHERE idempotency_key = ${p.idempotencyKey}
      ), ${p.guard ? db`guard AS (SELECT COALESCE((${p.guard}), false) AS ok), ` : db``}
         ${caps || first ? db`bal AS (SELECT 1 FROM user_balances WHERE user_id = ${p.userId} ${guarded} FOR UPDATE), ` : db``}
         ${lotSpend ? spendBalCte(db, p.userId) : db``}
         ${first ? firstTimeCte(db, { userId: p.userId, person: p.person, reward: first, afterBalanceLock: true }) : db``}
         ${caps ? capCte(db, p, caps, first ? db`AND ${firstTimeOk(db)}` : db``) : db``} upd AS (
        UPDATE user_balances
           SET besitos = besitos + ${delta}, lifetime_besitos = lifetime_besitos + ${lifetimeDelta},
               ${bonusDelta ? db`bonus_besitos = bonus_besitos ${bonusDelta},` : db``} updated_at = now()
         WHERE user_id = ${p.userId} AND besitos - held + ${delta} >= 0 AND NOT EXISTS (SELECT 1 FROM existing)
               ${caps ? db`AND EXISTS (SELECT 1 FROM cap)` : lotSpend ? db`AND (EXISTS (SELECT 1 FROM bal) OR bonus_besitos = 0)` : db``}
               ${first ? db`AND ${firstTimeOk(db)}` : db``}
               ${guarded}
        RETURNING besitos, bonus_besitos
      ), ins AS (
        INSERT INTO transactions (user_id, amount, type, source, description, metadata, balance_after, idempotency_key)
        SELECT ${p.userId}, ${delta}, ${kind}, ${p.source}, ${p.description ?? null}, ${db.json((p.metadata ?? {}) as never)}, upd.besitos, ${p.idempotencyKey}
          FROM upd
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING *
      ), ev AS (
        INSERT INTO outbox (event_id, type, user_id, event)
        SELECT ${event.event_id}, ${event.type}, ${p.userId},
               jsonb_set(${db.json(event as never)}::jsonb, '{data}',
                 (${db.json(event.data as never)}::jsonb) || jsonb_build_object('transaction_id', ins.id, 'balance_after', ins.balance_after))
          FROM ins
      )${lotParts ? db`, ${lotParts}` : db``}${alongside.reduce((acc, a, i) => db`${acc}, ${db.unsafe(i ? `alongside_${i}` : 'alongside')} AS (${a})`, db``)}
      SELECT (SELECT to_jsonb(existing) FROM existing) AS existing,
             (SELECT to_jsonb(ins) FROM ins) AS inserted,
             ledger_abort_if((SELECT count(*) FROM upd) > 0 AND (SELECT count(*) FROM ins) = 0, 'idempotency race') AS aborted,
             ${p.refusalAborts ? db`ledger_abort_if(NOT EXISTS (SELECT 1 FROM existing) AND NOT EXISTS (SELECT 1 FROM ins), 'grant refused') AS refused,` : db``}
             ${lotSpend ? db`ledger_abort_if(${spendLotsStale(db)}, ${LOT_RACE}) AS lots_aborted,` : db``}
             EXISTS (SELECT 1 FROM user_balances WHERE user_id = ${p.userId}) AS has_account,
             (SELECT besitos - held FROM user_balances WHERE user_id = ${p.userId}) AS balance
             ${lotGrant ? db`, ${grantLotTriggers(db)} AS triggers` : db``}
             ${alongside.length ? db`, (SELECT count(*) FROM alongside)::int AS alongside_rows` : db``}
             ${alongside.length > 1 ? db`, jsonb_build_array(${db.unsafe(alongside.map((_, i) => { const t = i ? `alongside_${i}` : 'alongside'; return `jsonb_build_object('rows', (SELECT count(*) FROM ${t}), 'first', (SELECT to_jsonb(a) FROM ${t} a LIMIT 1))`; }).join(', '))}) AS alongside_each` : db``}
             ${p.guard ? db`, (SELECT ok FROM guard) AS guard_ok` : db``}
             ${first ? db`, NOT EXISTS (SELECT 1 FROM existing) AND NOT ${firstTimeOk(db)} AS first_refused` : db``}`;
    if (!res) throw new Error('ledger statement returned no row');
    const written = alongside.length ? { alongsideRows: Number(res.alongside_rows ?? 0), ...(res.alongside_each ? { alongsideEach: res.alongside_each } : {}) } : {};
    if (res.existing) return { ...checkReplay(toEntry(res.existing), p.userId, p.amount), ...written };
    if (res.inserted) {
      noteWrittenEvents(db, event.event_id, ...(res.triggers ?? []));
      return { entry: toEntry(res.inserted), replayed: false, ...written };
    }
    if (p.guard && !res.guard_ok) throw new GuardRefused(`precondition of ${p.idempotencyKey} did not hold`);
    if (!res.has_account) throw new UnknownAccount(p.userId);
    if (res.first_refused) {
      // Another account of the person had it — or this account's own grant with this key committed meanwhile.
      const [raced] = await db<Row[]>`SELECT * FROM transactions WHERE idempotency_key = ${p.idempotencyKey}`;
      if (raced) return checkReplay(toEntry(raced), p.userId, p.amount);
      throw new AlreadyRewarded(first!);
    }
    if (caps) {
      // Refused by a cap, or the key was used by a grant that committed while this one waited for the
      // counter: a fresh read tells which.
      const [raced] = await db<Row[]>`SELECT * FROM transactions WHERE idempotency_key = ${p.idempotencyKey}`;
      if (raced) return checkReplay(toEntry(raced), p.userId, p.amount);
      throw await capRefusal(db, p, caps);
    }
    // Refused: short of funds — or a lot opened since the snapshot that said there was none. The second
    // try, under the lock, tells which.
    if (lotSpend && !opts.locked) throw new LotRace('spend refused');
    throw new InsufficientFunds(p.amount, res.balance === null ? null : Number(res.balance));
  });
}

/** A lot's expiry (lots.ts expireJob): what it still holds leaves through an 'expire' spend, once. */
setExpireSpend(async (tx, lot, now) => {
  await tx`UPDATE user_balances SET bonus_besitos = bonus_besitos - ${lot.amount} WHERE user_id = ${lot.userId}`;
  const r = await move(
    tx,
    'spend',
    { userId: lot.userId, amount: lot.amount, source: 'expire', idempotencyKey: `expire:lot:${lot.id}`, description: 'Besitos bonus caducados', metadata: { lot_id: lot.id } },
    { lotsDone: true },
  );
  if (r.replayed) throw new RetryTransaction(`lot ${lot.id} expired concurrently`);
  await applyTakes(tx, r.entry.id, [{ lotId: lot.id, amount: lot.amount, expiresAt: now }]);
  await tx`UPDATE besitos_lots SET expired_at = ${now} WHERE id = ${lot.id}`;
  return { balanceAfter: r.entry.balanceAfter };
});

interface CapLimits {
  /** The pseudonym the caller passed; null: the account's (capSubject). */
  person: string | null;
  source: string;
  day: string;
  week: string;
  dayBesitos: number | null;
  dayGrants: number | null;
  weekBesitos: number | null;
  weekGrants: number | null;
  timeZone: string;
}

/** The local day and ISO week (Monday) of an instant, as YYYY-MM-DD. */
export function capPeriods(now: Date, timeZone: string): { day: string; week: string } {
  const day = localDate(now, timeZone);
  const weekday = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday = 0
  return { day, week: addDays(day, -weekday) };
}

/** The caps this grant must respect, or null when its source has none (then no counter is touched). */
function capLimits(p: MoveParams): CapLimits | null {
  const policy = sourcePolicy(p.source);
  const { day: d, week: w } = policy.caps;
  if (!d && !w) return null;
  const timeZone = p.timeZone ?? economyTimeZone();
  return {
    person: p.person ?? null,
    source: policyKey(p.source), // caps count per family: reaction:post:1 and reaction:post:2 share one
    ...capPeriods(p.now ?? new Date(), timeZone),
    dayBesitos: d?.besitos ?? null,
    dayGrants: d?.grants ?? null,
    weekBesitos: w?.besitos ?? null,
    weekGrants: w?.grants ?? null,
    timeZone,
  };
}

/** A limit the policy leaves open, compared like any other and never reached: one statement text for every source. */
const NO_CAP = Number.MAX_SAFE_INTEGER;

/**
 * Whose caps a grant counts in: the person — the pseudonym the caller passed, else the one on the
 * account (users.person, written by the webhook's state load and kept after /borrar: sql/190), so a
 * subscriber's grant and a re-registered account count in the same row — or, for an account that
 * never came through the webhook since, the account ('user:<id>').
 */
function capSubject(db: Queryable, person: string | null | undefined, userId: number) {
  return person ? db`${person}::text` : db`COALESCE((SELECT person FROM users WHERE id = ${userId}), ${`user:${userId}`}::text)`;
}

/**
 * The cap check and count, in the grant's statement: the balance row is locked first (`bal`, in
 * move(): every ledger write locks it first, so grants of two sources in one transaction can't deadlock
 * with another's), then one guarded upsert of the (subject, source) counter. It writes only if the grant fits every
 * cap of both periods; the balance update requires it, so an over-cap grant writes nothing.
 * One fragment with every limit as a parameter (NO_CAP when open): building nested fragments per
 * limit cost the Node side about a third more than the plain grant (BENCHMARKS.md, economy).
 */
function capCte(db: Queryable, p: MoveParams, c: CapLimits, gate: ReturnType<Queryable>) {
  const open = (limit: number | null) => limit ?? NO_CAP;
  const [dayB, dayG, weekB, weekG] = [open(c.dayBesitos), open(c.dayGrants), open(c.weekBesitos), open(c.weekGrants)];
  return db`cap AS (
        INSERT INTO besitos_caps AS c (subject, source, day, day_besitos, day_grants, week, week_besitos, week_grants)
        SELECT ${capSubject(db, c.person, p.userId)}, ${c.source}, ${c.day}::date, ${p.amount}, 1, ${c.week}::date, ${p.amount}, 1
         WHERE NOT EXISTS (SELECT 1 FROM existing) AND EXISTS (SELECT 1 FROM bal) ${gate}
               AND ${p.amount}::bigint <= LEAST(${dayB}::bigint, ${weekB}::bigint)
        ON CONFLICT (subject, source) DO UPDATE SET
          day = GREATEST(c.day, excluded.day),
          day_besitos = (CASE WHEN excluded.day > c.day THEN 0 ELSE c.day_besitos END) + excluded.day_besitos,
          day_grants = (CASE WHEN excluded.day > c.day THEN 0 ELSE c.day_grants END) + 1,
          week = GREATEST(c.week, excluded.week),
          week_besitos = (CASE WHEN excluded.week > c.week THEN 0 ELSE c.week_besitos END) + excluded.week_besitos,
          week_grants = (CASE WHEN excluded.week > c.week THEN 0 ELSE c.week_grants END) + 1,
          updated_at = now()
         WHERE (CASE WHEN excluded.day > c.day THEN 0 ELSE c.day_besitos END) + excluded.day_besitos <= ${dayB}::bigint
           AND (CASE WHEN excluded.day > c.day THEN 0 ELSE c.day_grants END) + 1 <= ${dayG}::bigint
           AND (CASE WHEN excluded.week > c.week THEN 0 ELSE c.week_besitos END) + excluded.week_besitos <= ${weekB}::bigint
           AND (CASE WHEN excluded.week > c.week THEN 0 ELSE c.week_grants END) + 1 <= ${weekG}::bigint
        RETURNING 1
      ),`;
}

interface CapRow {
  day: string | Date;
  day_besitos: number;
  day_grants: number;
  week: string | Date;
  week_besitos: number;
  week_grants: number;
}

const dateKey = (d: string | Date) => (typeof d === 'string' ? d.slice(0, 10) : d.toISOString().slice(0, 10));

/** What the subject already has in this grant's periods (0 for a period the row is not in). */
function usage(row: CapRow | undefined, c: { day: string; week: string }) {
  const sameDay = row && dateKey(row.day) >= c.day;
  const sameWeek = row && dateKey(row.week) >= c.week;
  return {
    day: { besitos: sameDay ? Number(row!.day_besitos) : 0, grants: sameDay ? Number(row!.day_grants) : 0 },
    week: { besitos: sameWeek ? Number(row!.week_besitos) : 0, grants: sameWeek ? Number(row!.week_grants) : 0 },
  };
}

async function capRefusal(db: Queryable, p: MoveParams, c: CapLimits): Promise<CapReached> {
  const [row] = await db<CapRow[]>`
    SELECT day::text, day_besitos, day_grants, week::text, week_besitos, week_grants
      FROM besitos_caps WHERE subject = ${capSubject(db, c.person, p.userId)} AND source = ${c.source}`;
  const used = usage(row, c);
  const nextDay = startOfLocalDay(addDays(c.day, 1), c.timeZone);
  const nextWeek = startOfLocalDay(addDays(c.week, 7), c.timeZone);
  const checks: [CapPeriod, 'besitos' | 'grants', number | null, number, number, Date][] = [
    ['day', 'grants', c.dayGrants, used.day.grants, 1, nextDay],
    ['day', 'besitos', c.dayBesitos, used.day.besitos, p.amount, nextDay],
    ['week', 'grants', c.weekGrants, used.week.grants, 1, nextWeek],
    ['week', 'besitos', c.weekBesitos, used.week.besitos, p.amount, nextWeek],
  ];
  // The longest wait wins: a full week cap is what the user must be told about, even if today's is full too.
  const over = checks.filter(([, , limit, u, add]) => limit !== null && u + add > limit).sort((a, b) => b[5].getTime() - a[5].getTime());
  const [period, unit, limit, u, , resetsAt] = over[0] ?? checks[1]!;
  return new CapReached(c.source, period, unit, limit ?? 0, u, resetsAt);
}

export interface CapUsage {
  source: string;
  day: { besitos: number; grants: number; limits: { besitos: number | null; grants: number | null } };
  week: { besitos: number; grants: number; limits: { besitos: number | null; grants: number | null } };
  /** Besitos one more grant may still give now (Infinity when the source has no besitos cap). */
  besitosLeft: number;
  /** Grants still allowed now (Infinity when the source has no count cap). */
  grantsLeft: number;
}

/**
 * How much of a source's caps a person (or user) has used in the current day and week, without
 * writing: for a feature that wants to say "te quedan 2 reacciones hoy", or a dashboard. Advisory only:
 * the grant's own statement is what enforces the cap.
 */
export async function capUsage(
  db: Queryable,
  q: { userId: number; person?: string | null; source: string; now?: Date; timeZone?: string },
): Promise<CapUsage> {
  const policy = sourcePolicy(q.source);
  const periods = capPeriods(q.now ?? new Date(), q.timeZone ?? economyTimeZone());
  const [row] = await db<CapRow[]>`
    SELECT day::text, day_besitos, day_grants, week::text, week_besitos, week_grants
      FROM besitos_caps WHERE subject = ${capSubject(db, q.person, q.userId)} AND source = ${policyKey(q.source)}`;
  const used = usage(row, periods);
  const lim = (x: number | undefined) => x ?? null;
  const left = (limit: number | undefined, u: number) => (limit === undefined ? Infinity : Math.max(0, limit - u));
  const d = policy.caps.day;
  const w = policy.caps.week;
  return {
    source: q.source,
    day: { ...used.day, limits: { besitos: lim(d?.besitos), grants: lim(d?.grants) } },
    week: { ...used.week, limits: { besitos: lim(w?.besitos), grants: lim(w?.grants) } },
    besitosLeft: Math.min(left(d?.besitos, used.day.besitos), left(w?.besitos, used.week.besitos)),
    grantsLeft: Math.min(left(d?.grants, used.day.grants), left(w?.grants, used.week.grants)),
  };
}

export async function grantBesitos(db: Queryable, p: MoveParams): Promise<LedgerResult> {
  return move(db, 'grant', p, { bonus: p.bonus ?? sourcePolicy(p.source).bonus });
}

export function spendBesitos(db: Queryable, p: MoveParams): Promise<LedgerResult> {
  return move(db, 'spend', p);
}

export interface TransferParams {
  fromUserId: number;
  toUserId: number;
  amount: number;
  source: string;
  idempotencyKey: string;
  description?: string;
  metadata?: Record<string, unknown>;
  /** Clock and zone for the receiver's carried lots' jobs (default: now, the app's zone). */
  now?: Date;
  timeZone?: string;
}

export interface TransferResult {
  debit: LedgerEntry;
  credit: LedgerEntry;
  replayed: boolean;
}

async function findByKeys(db: Queryable, keys: string[]): Promise<LedgerEntry[]> {
  const rows = await db<Row[]>`SELECT * FROM transactions WHERE idempotency_key IN ${db(keys)} ORDER BY id`;
  return rows.map(toEntry);
}

/**
 * Moves besitos between two users atomically; both balance rows are locked in user_id order.
 * The receiver's lifetime_besitos does not grow: lifetime (and what rankings and achievements read)
 * counts besitos earned from sources (grants), so passing besitos back and forth inflates nothing.
 */
export async function transferBesitos(db: Queryable, p: TransferParams): Promise<TransferResult> {
  assertUserId(p.fromUserId);
  assertUserId(p.toUserId);
  assertAmount(p.amount);
  assertKey(p.idempotencyKey);
  assertSource(p.source);
  assertSink(p.source);
  if (p.fromUserId === p.toUserId) throw new InvalidTransfer('cannot transfer to the same user');
  const outKey = `${p.idempotencyKey}:out`;
  const inKey = `${p.idempotencyKey}:in`;
  const fromReplay = (legs: LedgerEntry[]): TransferResult | null => {
    const debit = legs.find((l) => l.idempotencyKey === outKey);
    const credit = legs.find((l) => l.idempotencyKey === inKey);
    if (!debit || !credit) return null;
    checkReplay(debit, p.fromUserId, p.amount);
    checkReplay(credit, p.toUserId, p.amount);
    return { debit, credit, replayed: true };
  };
  return withTransaction(db, async (tx) => {
    const replay = fromReplay(await findByKeys(tx, [outKey, inKey]));
    if (replay) return replay;
    const locked = await tx<{ user_id: number; besitos: number; bonus_besitos: number }[]>`
      SELECT user_id, besitos - held AS besitos, bonus_besitos FROM user_balances
       WHERE user_id IN ${tx([p.fromUserId, p.toUserId])}
       ORDER BY user_id FOR UPDATE`;
    const sender = locked.find((r) => r.user_id === p.fromUserId);
    if (!sender) throw new UnknownAccount(p.fromUserId);
    if (!locked.some((r) => r.user_id === p.toUserId)) throw new UnknownAccount(p.toUserId);
    // A receiver who erased their data (/borrar) can never spend what they'd get: refuse, don't sink it.
    const [receiver] = await tx<{ deleted: boolean }[]>`
      SELECT deleted_at IS NOT NULL AS deleted FROM users WHERE id = ${p.toUserId} FOR SHARE`;
    if (!receiver || receiver.deleted) throw new UnknownAccount(p.toUserId);
    // Re-check under the locks: a concurrent transfer with this key may have committed meanwhile.
    const raced = fromReplay(await findByKeys(tx, [outKey, inKey]));
    if (raced) return raced;
    if (sender.besitos < p.amount) throw new InsufficientFunds(p.amount, sender.besitos);
    // The sender's bonus lots go first, and travel: the receiver gets lots with the same expiry.
    const takes = Number(sender.bonus_besitos) > 0 ? takeFromLots(await lockOpenLots(tx, p.fromUserId), p.amount) : [];
    const carried = sumTakes(takes);
    const [debitBalance] = await tx<{ besitos: number }[]>`
      UPDATE user_balances SET besitos = besitos - ${p.amount}, bonus_besitos = bonus_besitos - ${carried}, updated_at = now()
       WHERE user_id = ${p.fromUserId} AND besitos - held >= ${p.amount} RETURNING besitos`;
    if (!debitBalance) throw new InsufficientFunds(p.amount, sender.besitos);
    const [creditBalance] = await tx<{ besitos: number }[]>`
      UPDATE user_balances SET besitos = besitos + ${p.amount}, updated_at = now()
       WHERE user_id = ${p.toUserId} RETURNING besitos`;
    const meta = tx.json((p.metadata ?? {}) as never);
    const rows = await tx<Row[]>`
      INSERT INTO transactions (user_id, amount, type, source, description, metadata, balance_after, idempotency_key, counterparty_id)
      VALUES (${p.fromUserId}, ${-p.amount}, 'transfer_out', ${p.source}, ${p.description ?? null}, ${meta}, ${debitBalance.besitos}, ${outKey}, ${p.toUserId}),
             (${p.toUserId}, ${p.amount}, 'transfer_in', ${p.source}, ${p.description ?? null}, ${meta}, ${creditBalance!.besitos}, ${inKey}, ${p.fromUserId})
      RETURNING *`;
    const debit = toEntry(rows.find((r) => r.idempotency_key === outKey)!);
    const credit = toEntry(rows.find((r) => r.idempotency_key === inKey)!);
    if (carried > 0) {
      await applyTakes(tx, debit.id, takes);
      const now = p.now ?? new Date();
      await openLots(tx, p.toUserId, credit.id, takes.map((t) => ({ amount: t.amount, expiresAt: t.expiresAt })), now, p.timeZone ?? economyTimeZone());
      await tx`UPDATE user_balances SET bonus_besitos = bonus_besitos + ${carried} WHERE user_id = ${p.toUserId}`;
    }
    await publish(
      tx,
      newEvent('gamification.besitos_spent', ledgerEventData(debit), p.fromUserId),
      newEvent('gamification.besitos_earned', ledgerEventData(credit), p.toUserId),
    );
    return { debit, credit, replayed: false };
  });
}

function ledgerEventData(e: LedgerEntry) {
  return {
    amount: Math.abs(e.amount),
    source: e.source,
    transaction_id: e.id,
    balance_after: e.balanceAfter,
    ...(e.reverses ? { reversal_of: e.reverses } : {}),
  };
}

export interface ReverseParams {
  transactionId: number;
  idempotencyKey: string;
  reason?: string;
  /** Clock and zone for lots given back (their jobs); default now and the app's zone. */
  now?: Date;
  timeZone?: string;
}

/**
 * What a reversal leg does to lots (lib/besitos/lots.ts). Taking back a credit: first from the lots
 * that credit opened, then from the non-expiring part, then from other lots soonest first. Giving
 * back a debit: new lots with the expiry of the lots the debit took from; the rest non-expiring.
 * Read under the balance lock; nothing is written here.
 */
export async function reversalLots(tx: Queryable, leg: { id: number; userId: number; amount: number }): Promise<{ takes: LotTake[]; reopen: { amount: number; expiresAt: Date }[] }> {
  if (leg.amount < 0) {
    const moved = await tx<{ amount: number; expires_at: Date }[]>`
      SELECT -m.amount AS amount, l.expires_at FROM besitos_lot_moves m JOIN besitos_lots l ON l.id = m.lot_id
       WHERE m.transaction_id = ${leg.id} AND m.amount < 0 ORDER BY l.expires_at, l.id`;
    return { takes: [], reopen: moved.map((m) => ({ amount: Number(m.amount), expiresAt: new Date(m.expires_at) })) };
  }
  const plan = await planCreditReversals(tx, leg.userId, [{ id: leg.id, amount: leg.amount }]);
  return { takes: plan.get(leg.id) ?? [], reopen: [] };
}

/**
 * For taking back credits of one user (in order; the rollback of a window takes several at once):
 * which lots each one takes — the lots it opened first, then the non-expiring part, then other lots
 * soonest first. Call with the balance row locked; applies nothing (the caller lowers bonus_besitos by
 * the sum and calls applyTakes with each reversal row's id). Users without bonus: one read, no takes.
 */
export async function planCreditReversals(tx: Queryable, userId: number, credits: { id: number; amount: number }[]): Promise<Map<number, LotTake[]>> {
  const out = new Map<number, LotTake[]>();
  const [b] = await tx<{ besitos: number; bonus_besitos: number }[]>`SELECT besitos, bonus_besitos FROM user_balances WHERE user_id = ${userId}`;
  if (!b || Number(b.bonus_besitos) === 0) return out;
  const lots = await lockOpenLots(tx as never, userId);
  const opened = await tx<{ id: number; transaction_id: number }[]>`
    SELECT id, transaction_id FROM besitos_lots WHERE transaction_id IN ${tx(credits.map((c) => c.id))}`;
  let plain = Number(b.besitos) - Number(b.bonus_besitos);
  for (const c of credits) {
    const own = new Set(opened.filter((o) => Number(o.transaction_id) === c.id).map((o) => Number(o.id)));
    const fromOwn = takeFromLots(lots.filter((l) => own.has(l.id)), c.amount);
    let rest = c.amount - sumTakes(fromOwn);
    const fromPlain = Math.min(rest, plain);
    plain -= fromPlain;
    rest -= fromPlain;
    const fromOthers = rest > 0 ? takeFromLots(lots.filter((l) => !own.has(l.id)), rest) : [];
    const takes = [...fromOwn, ...fromOthers];
    for (const t of takes) lots.find((l) => l.id === t.lotId)!.remaining -= t.amount; // later credits see what is left
    out.set(c.id, takes);
  }
  return out;
}

export interface ReverseResult {
  /** One compensating row per reversed leg (two for a transfer). */
  reversals: LedgerEntry[];
  replayed: boolean;
}

/**
 * Compensates a transaction with a 'reversal' row of the opposite sign (never an edit). A transfer
 * is reversed as a whole, both legs. Refused when it would take a balance below zero (e.g. the
 * receiver of a gift already spent it), or when the transaction was already reversed.
 */
export async function reverseTransaction(db: Queryable, p: ReverseParams): Promise<ReverseResult> {
  assertKey(p.idempotencyKey);
  return withTransaction(db, async (tx) => {
    const [original] = await tx<Row[]>`SELECT * FROM transactions WHERE id = ${p.transactionId}`;
    if (!original) throw new TransactionNotFound(`transaction ${p.transactionId} not found`);
    if (original.type === 'reversal') throw new ReversalNotPossible('a reversal cannot be reversed');
    let legs = [toEntry(original)];
    if (original.type === 'transfer_in' || original.type === 'transfer_out') {
      const base = original.idempotency_key.replace(/:(in|out)$/, '');
      legs = await findByKeys(tx, [`${base}:out`, `${base}:in`]);
    }
    const legKey = (leg: LedgerEntry) => (legs.length === 1 ? p.idempotencyKey : `${p.idempotencyKey}:leg:${leg.id}`);
    const userIds = [...new Set(legs.map((l) => l.userId))].sort((a, b) => a - b);
    await tx`SELECT 1 FROM user_balances WHERE user_id IN ${tx(userIds)} ORDER BY user_id FOR UPDATE`;
    // Checked under the locks: a concurrent reversal of the same transaction has committed by now.
    const existing = (await tx<Row[]>`SELECT * FROM transactions WHERE reverses IN ${tx(legs.map((l) => l.id))}`).map(toEntry);
    if (existing.length > 0) {
      const ours = existing.every((e) => legs.some((l) => legKey(l) === e.idempotencyKey));
      if (ours) return { reversals: existing, replayed: true };
      throw new AlreadyReversed(`transaction ${p.transactionId} was already reversed`);
    }

    const reversals: LedgerEntry[] = [];
    // Take money back before giving it back, so a refused leg leaves nothing half-done.
    for (const leg of [...legs].sort((a, b) => b.amount - a.amount)) {
      const delta = -leg.amount;
      // Lifetime counts what was earned from sources: only undoing a grant takes from it.
      const lifetimeDelta = leg.type === 'grant' ? -leg.amount : 0;
      const lots = await reversalLots(tx, leg);
      const [bal] = await tx<{ besitos: number }[]>`
        UPDATE user_balances
           SET besitos = besitos + ${delta},
               bonus_besitos = bonus_besitos - ${sumTakes(lots.takes)} + ${sumTakes(lots.reopen)},
               lifetime_besitos = GREATEST(lifetime_besitos + ${lifetimeDelta}, 0),
               updated_at = now()
         WHERE user_id = ${leg.userId} AND besitos - held + ${delta} >= 0
        RETURNING besitos`;
      if (!bal) {
        throw new ReversalNotPossible(`user ${leg.userId} no longer has the ${leg.amount} besitos to take back`);
      }
      const key = legKey(leg);
      const [row] = await tx<Row[]>`
        INSERT INTO transactions (user_id, amount, type, source, description, metadata, balance_after, idempotency_key, reverses, counterparty_id)
        VALUES (${leg.userId}, ${delta}, 'reversal', ${leg.source}, ${p.reason ?? null}, ${tx.json({ reason: p.reason ?? null } as never)},
                ${bal.besitos}, ${key}, ${leg.id}, ${leg.counterpartyId})
        RETURNING *`;
      const entry = toEntry(row!);
      reversals.push(entry);
      await applyTakes(tx, entry.id, lots.takes);
      if (lots.reopen.length) await openLots(tx, leg.userId, entry.id, lots.reopen, p.now ?? new Date(), p.timeZone ?? economyTimeZone());
      await publish(
        tx,
        newEvent(delta > 0 ? 'gamification.besitos_earned' : 'gamification.besitos_spent', ledgerEventData(entry), leg.userId),
      );
    }
    return { reversals, replayed: false };
  });
}

export interface Balance {
  besitos: number;
  lifetimeBesitos: number;
  /** Besitos under an active hold (an auction bid): still the user's, not spendable. */
  held: number;
}

export async function getBalance(db: Queryable, userId: number): Promise<Balance> {
  const [row] = await db<{ besitos: number; lifetime_besitos: number; held: number }[]>`
    SELECT besitos, lifetime_besitos, held FROM user_balances WHERE user_id = ${userId}`;
  if (!row) throw new UnknownAccount(userId);
  return { besitos: Number(row.besitos), lifetimeBesitos: Number(row.lifetime_besitos), held: Number(row.held) };
}

export interface HistoryPage {
  entries: LedgerEntry[];
  /** Pass as beforeId to get the next (older) page; null when there is none. */
  nextCursor: number | null;
}

export async function getTransactionHistory(
  db: Queryable,
  userId: number,
  opts: { limit?: number; beforeId?: number | null } = {},
): Promise<HistoryPage> {
  const limit = Math.min(Math.max(opts.limit ?? 10, 1), 100);
  const rows = await db<Row[]>`
    SELECT * FROM transactions
     WHERE user_id = ${userId} ${opts.beforeId ? db`AND id < ${opts.beforeId}` : db``}
     ORDER BY id DESC LIMIT ${limit + 1}`;
  const entries = rows.slice(0, limit).map(toEntry);
  return { entries, nextCursor: rows.length > limit ? entries[entries.length - 1]!.id : null };
}

export { isTransientDbError };
