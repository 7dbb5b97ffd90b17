import type postgres from 'postgres';
import { z } from 'zod';
import { createEvent } from '../bus/events.js';
import { publish } from '../bus/outbox.js';
import type { Queryable, Sql } from '../db/client.js';
import { withTransaction } from '../db/transaction.js';
import { AccountErased, lockLiveUser } from '../users/errors.js';
import { ActionNotFound, CommandKeyConflict, InvalidCommandParams, NotUndoable, UndoWindowClosed } from './errors.js';

export * from './errors.js';

type Tx = postgres.TransactionSql<{}>;

export interface ExecuteContext {
  tx: Tx;
  userId: number;
  actionId: number;
  idempotencyKey: string;
  now: Date;
}

export interface UndoContext<P, R> extends ExecuteContext {
  /** The action being undone. */
  original: { id: number; params: P; result: R; createdAt: Date };
}

/**
 * A user action as an object: a name, validated params, an idempotency key from the update, and a
 * result. Commands that declare `undo` can be undone within `undoWindowSeconds` by a compensating
 * effect (never an edit). `mode: 'async'` commands are acknowledged at once (action `pending`) and
 * executed later by `executePendingAction` — the bus subscriber's entry point.
 */
export interface CommandDef<P, R> {
  name: string;
  params: z.ZodType<P>;
  execute(c: ExecuteContext, params: P): Promise<R>;
  mode?: 'sync' | 'async';
  /**
   * Async commands: a failure that is the user's (e.g. InsufficientFunds). The action ends `failed`
   * with the error's name and the effect rolled back; any other error is retried by the bus.
   */
  isUserError?: (err: unknown) => boolean;
  undo?: {
    windowSeconds: number;
    run(c: UndoContext<P, R>): Promise<unknown>;
  };
  /**
   * The command as ONE statement (issue 18): the effect, the action row with its result and the
   * protocol's precondition (`c.fresh`) written together, so no BEGIN, INSERT, UPDATE, COMMIT around
   * it — a single statement is atomic. Returns null when it does not apply (a precondition of its own
   * or `c.fresh` was false, a race it lost): it must then have written nothing, and runCommand runs the
   * transaction protocol, which replays, refuses or runs the command as always. Sync commands only,
   * and only when runCommand is given a pool (a failed statement would abort a caller's transaction).
   */
  oneStatement?(c: OneStatementContext, params: P): Promise<{ result: R; action: ActionRow } | null>;
}

export interface OneStatementContext {
  db: Sql;
  userId: number;
  idempotencyKey: string;
  now: Date;
  /**
   * What the transaction protocol's first statement checks, as an SQL condition for the statement's
   * guard: the user is live, held FOR KEY SHARE until the statement ends (lockLiveUser: /borrar waits
   * for it or makes it write nothing), and no action has this key yet (a redelivery replays instead).
   */
  fresh: postgres.PendingQuery<postgres.Row[]>;
  /**
   * The action row, `done` with its result, written from the statement's row `from` (default `ins`,
   * the ledger's new row): `result` is an SQL jsonb expression. Without ON CONFLICT: if a run with the
   * same key commits first, the unique index fails the whole statement (nothing is written) and the
   * transaction protocol replays.
   */
  actionRow(result: postgres.PendingQuery<postgres.Row[]>, from?: string): postgres.PendingQuery<postgres.Row[]>;
}

export function defineCommand<P, R>(def: CommandDef<P, R>): CommandDef<P, R> {
  if (!/^[a-z][a-z0-9_.]{0,40}$/.test(def.name)) throw new Error(`bad command name ${def.name}`);
  return def;
}

/** Commands by name, for async execution and for /actividad labels. */
export const commandRegistry = new Map<string, CommandDef<any, any>>();
export function registerCommand<P, R>(def: CommandDef<P, R>): CommandDef<P, R> {
  commandRegistry.set(def.name, defineCommand(def));
  return def;
}

export type ActionStatus = 'pending' | 'done' | 'failed' | 'undone';

export interface ActionRecord<P = unknown, R = unknown> {
  id: number;
  userId: number;
  name: string;
  idempotencyKey: string | null;
  status: ActionStatus;
  params: P;
  result: R | null;
  error: string | null;
  undoUntil: Date | null;
  undoneAt: Date | null;
  undoOf: number | null;
  createdAt: Date;
}

export interface ActionRow {
  id: number;
  user_id: number;
  name: string;
  idempotency_key: string | null;
  status: ActionStatus;
  params: unknown;
  result: unknown;
  error: string | null;
  undo_until: Date | null;
  undone_at: Date | null;
  undo_of: number | null;
  created_at: Date;
}

export function toAction<P, R>(r: ActionRow): ActionRecord<P, R> {
  return {
    id: Number(r.id),
    userId: Number(r.user_id),
    name: r.name,
    idempotencyKey: r.idempotency_key,
    status: r.status,
    params: r.params as P,
    result: (r.result ?? null) as R | null,
    error: r.error,
    undoUntil: r.undo_until ? new Date(r.undo_until) : null,
    undoneAt: r.undone_at ? new Date(r.undone_at) : null,
    undoOf: r.undo_of === null ? null : Number(r.undo_of),
    createdAt: new Date(r.created_at),
  };
}

export interface RunOptions {
  userId: number;
  idempotencyKey: string;
  params: unknown;
  now: Date;
  /** Called on a failure that is the user's (e.g. InsufficientFunds) to record it in the history. */
  isUserError?: (err: unknown) => boolean;
}

export interface RunResult<R> {
  action: ActionRecord<unknown, R>;
  result: R | null;
  /** The idempotency key had been used: nothing ran again, this is the first outcome. */
  replayed: boolean;
}

/**
 * Runs a command: the action row and the command's effect are written in one transaction.
 * An async command (`mode: 'async'`) only writes its `pending` action and, in the same transaction,
 * a `system.command_requested` event; the bus's `commands` subscriber executes it
 * (executePendingAction) and tells the user. A rollback of the caller's transaction leaves neither.
 * The action row is inserted first, so a concurrent run with the same key waits on the unique index
 * and then replays. A user error rolls the effect back and is recorded as a failed action (without
 * key, so that the same request may succeed later); other errors propagate unrecorded.
 */
export async function runCommand<P, R>(db: Queryable, def: CommandDef<P, R>, o: RunOptions): Promise<RunResult<R>> {
  const parsed = def.params.safeParse(o.params);
  if (!parsed.success) throw new InvalidCommandParams(`${def.name}: ${parsed.error.message}`);
  const params = parsed.data;
  const undoUntil = def.undo ? new Date(o.now.getTime() + def.undo.windowSeconds * 1000) : null;
  const async = def.mode === 'async';
  if (def.oneStatement && !async && isPool(db)) {
    const once = await def.oneStatement(oneStatementContext(db, def.name, params, undoUntil, o), params);
    if (once) return { action: toAction<unknown, R>(once.action), result: once.result, replayed: false };
  }
  try {
    return await withTransaction(db, async (tx) => {
      // The per-user lock (lockLiveUser) in the same statement: FOR KEY SHARE on a live user row (what
      // /borrar's FOR UPDATE waits for; a name or last-seen update doesn't), so a concurrent /borrar
      // either waits for this transaction or makes it write nothing.
      const [row] = await tx<ActionRow[]>`
        INSERT INTO actions (user_id, name, idempotency_key, status, params, undo_until, created_at)
        SELECT ${o.userId}, ${def.name}, ${o.idempotencyKey}, ${async ? 'pending' : 'done'}, ${tx.json(params as never)},
               ${undoUntil}::timestamptz, ${o.now}::timestamptz
         WHERE EXISTS (SELECT 1 FROM users WHERE id = ${o.userId} AND deleted_at IS NULL FOR KEY SHARE)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING *`;
      if (!row) return replay<R>(tx, def.name, o.userId, o.idempotencyKey);
      if (async) {
        await publish(tx, createEvent('system.command_requested', { action_id: Number(row.id), name: def.name }, o.userId, o.now));
        return { action: toAction<unknown, R>(row), result: null, replayed: false };
      }
      const result = await def.execute({ tx, userId: o.userId, actionId: Number(row.id), idempotencyKey: o.idempotencyKey, now: o.now }, params);
      const [done] = await tx<ActionRow[]>`
        UPDATE actions SET result = ${tx.json((result ?? null) as never)}, completed_at = now()
         WHERE id = ${row.id} RETURNING *`;
      return { action: toAction<unknown, R>(done!), result, replayed: false };
    });
  } catch (err) {
    if (o.isUserError?.(err)) await recordFailure(db, def.name, o.userId, params, err, o.now);
    throw err;
  }
}

const isPool = (db: Queryable): db is Sql => typeof (db as Sql).begin === 'function';

function oneStatementContext(db: Sql, name: string, params: unknown, undoUntil: Date | null, o: RunOptions): OneStatementContext {
  return {
    db,
    userId: o.userId,
    idempotencyKey: o.idempotencyKey,
    now: o.now,
    fresh: db`(EXISTS (SELECT 1 FROM users WHERE id = ${o.userId} AND deleted_at IS NULL FOR KEY SHARE)
               AND NOT EXISTS (SELECT 1 FROM actions WHERE idempotency_key = ${o.idempotencyKey}))`,
    actionRow: (result, from = 'ins') => db`
      INSERT INTO actions (user_id, name, idempotency_key, status, params, undo_until, created_at, result, completed_at)
      SELECT ${o.userId}, ${name}, ${o.idempotencyKey}, 'done', ${db.json(params as never)}, ${undoUntil}::timestamptz,
             ${o.now}::timestamptz, ${result}, now()
        FROM ${db.unsafe(from)}
      RETURNING *`,
  };
}

async function replay<R>(db: Queryable, name: string, userId: number, key: string): Promise<RunResult<R>> {
  const [existing] = await db<ActionRow[]>`SELECT * FROM actions WHERE idempotency_key = ${key}`;
  if (!existing) throw new AccountErased(`user ${userId} (command ${name})`);
  if (Number(existing.user_id) !== userId || existing.name !== name) {
    throw new CommandKeyConflict(`key ${key} was used by another command`);
  }
  const action = toAction<unknown, R>(existing);
  return { action, result: action.result, replayed: true };
}

async function recordFailure(db: Queryable, name: string, userId: number, params: unknown, err: unknown, now: Date) {
  await db`
    INSERT INTO actions (user_id, name, idempotency_key, status, params, error, created_at, completed_at)
    SELECT ${userId}, ${name}, NULL, 'failed', ${db.json(params as never)}, ${(err as Error)?.name ?? 'Error'}, ${now}::timestamptz, now()
     WHERE EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND deleted_at IS NULL FOR KEY SHARE)`;
}

/** Looks up an action by its key (e.g. to tell a replayed button press from an expired one). */
export async function findAction(db: Queryable, idempotencyKey: string): Promise<ActionRecord | null> {
  const [row] = await db<ActionRow[]>`SELECT * FROM actions WHERE idempotency_key = ${idempotencyKey}`;
  return row ? toAction(row) : null;
}

export interface UndoResult<R> {
  original: ActionRecord<unknown, R>;
  undo: ActionRecord;
  replayed: boolean;
}

/**
 * Undoes an action of `userId` with its command's inverse, in one transaction that locks the action
 * row: two presses undo once (the second replays), after the window or when the inverse is refused
 * (e.g. the receiver spent the gift) nothing changes and the error propagates.
 */
export async function undoAction<R>(db: Queryable, actionId: number, userId: number, now: Date): Promise<UndoResult<R>> {
  return withTransaction(db, async (tx) => {
    await lockLiveUser(tx, userId);
    const [row] = await tx<ActionRow[]>`SELECT * FROM actions WHERE id = ${actionId} AND user_id = ${userId} FOR UPDATE`;
    if (!row) throw new ActionNotFound(`action ${actionId} of user ${userId}`);
    const original = toAction<unknown, R>(row);
    const def = commandRegistry.get(original.name);
    if (original.status === 'undone') {
      const [undo] = await tx<ActionRow[]>`SELECT * FROM actions WHERE undo_of = ${actionId}`;
      return { original, undo: toAction(undo!), replayed: true };
    }
    if (!def?.undo || original.status !== 'done' || !original.undoUntil) throw new NotUndoable(`action ${actionId}`);
    if (now.getTime() > original.undoUntil.getTime()) throw new UndoWindowClosed(`action ${actionId}`);
    const key = `undo:${actionId}`;
    const [undoRow] = await tx<ActionRow[]>`
      INSERT INTO actions (user_id, name, idempotency_key, status, params, undo_of, created_at, completed_at)
      VALUES (${userId}, ${`${original.name}.undo`}, ${key}, 'done', ${tx.json({ actionId } as never)}, ${actionId}, ${now}, now())
      RETURNING *`;
    const result = await def.undo.run({
      tx,
      userId,
      actionId: Number(undoRow!.id),
      idempotencyKey: key,
      now,
      original: { id: actionId, params: original.params, result: original.result as R, createdAt: original.createdAt },
    });
    const [undo] = await tx<ActionRow[]>`
      UPDATE actions SET result = ${tx.json((result ?? null) as never)} WHERE id = ${undoRow!.id} RETURNING *`;
    const [updated] = await tx<ActionRow[]>`
      UPDATE actions SET status = 'undone', undone_at = ${now} WHERE id = ${actionId} RETURNING *`;
    return { original: toAction<unknown, R>(updated!), undo: toAction(undo!), replayed: false };
  });
}

export interface PendingOutcome {
  action: ActionRecord;
  /** True when this call moved the action out of `pending` (false: it had been executed before). */
  executed: boolean;
}

/**
 * Executes a pending (async) action: the entry point for the bus subscriber that receives the
 * command. Exactly once: the action row is locked, and an action that is no longer pending is
 * returned as it is, so concurrent or repeated calls execute it once. A user error (the command's
 * `isUserError`) rolls the effect back (savepoint) and ends the action `failed` with the error's
 * name; so do params that no longer parse (e.g. blanked by /borrar) — retrying cannot fix them.
 * Any other error leaves the action pending and propagates (the bus retries).
 */
export async function executePendingAction(db: Queryable, actionId: number, now: Date): Promise<ActionRecord> {
  return (await executePending(db, actionId, now)).action;
}

export async function executePending(db: Queryable, actionId: number, now: Date): Promise<PendingOutcome> {
  return withTransaction(db, async (tx) => {
    const [row] = await tx<ActionRow[]>`SELECT * FROM actions WHERE id = ${actionId} FOR UPDATE`;
    if (!row) throw new ActionNotFound(`action ${actionId}`);
    if (row.status !== 'pending') return { action: toAction(row), executed: false };
    const def = commandRegistry.get(row.name);
    if (!def) throw new NotUndoable(`unknown command ${row.name}`);
    const fail = async (error: string) => {
      const [failed] = await tx<ActionRow[]>`
        UPDATE actions SET status = 'failed', error = ${error}, completed_at = now() WHERE id = ${actionId} RETURNING *`;
      return { action: toAction(failed!), executed: true };
    };
    const parsed = def.params.safeParse(row.params);
    if (!parsed.success) return fail('InvalidCommandParams');
    let result: unknown;
    try {
      result = await tx.savepoint((sp) =>
        def.execute(
          { tx: sp, userId: Number(row.user_id), actionId, idempotencyKey: row.idempotency_key ?? `action:${actionId}`, now },
          parsed.data,
        ),
      );
    } catch (err) {
      if (def.isUserError?.(err)) return fail((err as Error)?.name ?? 'Error');
      throw err;
    }
    const [done] = await tx<ActionRow[]>`
      UPDATE actions SET status = 'done', result = ${tx.json((result ?? null) as never)}, completed_at = now()
       WHERE id = ${actionId} RETURNING *`;
    return { action: toAction(done!), executed: true };
  });
}

export interface ActionPage {
  actions: ActionRecord[];
  nextCursor: number | null;
}

/** The user's last actions, newest first, paged by id. */
export async function listActions(db: Queryable, userId: number, opts: { limit?: number; beforeId?: number | null } = {}): Promise<ActionPage> {
  const limit = Math.min(Math.max(opts.limit ?? 10, 1), 50);
  const rows = await db<ActionRow[]>`
    SELECT * FROM actions WHERE user_id = ${userId} ${opts.beforeId ? db`AND id < ${opts.beforeId}` : db``}
     ORDER BY id DESC LIMIT ${limit + 1}`;
  const actions = rows.slice(0, limit).map((r) => toAction(r));
  return { actions, nextCursor: rows.length > limit ? actions[actions.length - 1]!.id : null };
}
