import { z } from 'zod';
import { lazy } from '../lazy.js';
import type { Queryable } from '../db/client.js';
import { kvScript, runScript } from '../kv/script.js';
import type { KeyValueStore } from '../kv/types.js';
import type { Logger } from '../log.js';
import { schedule, type JobHandler } from '../scheduler/index.js';
import { displayName, findUsersByIds } from '../users/lookup.js';
import { usersMessages } from './messages-users.js';
import { isTransientTelegramError } from './telegram-retry.js';

/**
 * Pacing of gift notifications and of gift/undo loops (issue 16).
 *
 * - Windows are the injected clock's minutes (NOTIFY_WINDOW_SECONDS, aligned), so tests and the chat
 *   page's clock move them. A receiver hears from a given sender at most once per window: the first
 *   gift or undo of the window is told at once; any later one schedules one `gift.summary` job for the
 *   window's end (lib/scheduler, keyed by sender → receiver and window, so many moves make one job),
 *   which reads the window's gifts and undos from the actions table when it runs and tells the net
 *   result in one message. The job holds internal ids only (names are looked up when it runs, so an
 *   erased sender or receiver leaves nothing in it, and the message is not sent).
 * - A sender moves besitos by gift or undo at most `GIFT_MOVES_PER_WINDOW` times per window (a counter
 *   named by the sender's pseudonym, so /borrar does not reset it): a loop is refused with a Spanish
 *   answer, an undo is never refused (it is counted).
 *
 * Both live in the key-value store and fail open when it is down (one more notification, one more
 * move: the ledger stays exact either way).
 */
export const NOTIFY_WINDOW_SECONDS = 60;
export const GIFT_MOVES_PER_WINDOW = 8;

const windowOf = (now: Date) => Math.floor(now.getTime() / (NOTIFY_WINDOW_SECONDS * 1000));
const windowKey = (from: number, to: number, w: number) => `gift:pace:${from}:${to}:${w}`;
const movesKey = (person: string, w: number) => `gift:moves:${person}:${w}`;
/** Keys outlive their window a little (a clock slightly behind another instance's). */
const KEY_TTL = NOTIFY_WINDOW_SECONDS * 2;

/**
 * Atomic counter of one window. ARGV: limit (0 = count without limit), key TTL in seconds.
 * Returns the new count, or -1 when the limit was already reached (not counted).
 */
const COUNT = kvScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if limit > 0 and n >= limit then return -1 end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
return n
`);

/** Seconds until the next window (at least 1). */
const secondsLeft = (now: Date) => Math.max(1, Math.ceil(((windowOf(now) + 1) * NOTIFY_WINDOW_SECONDS * 1000 - now.getTime()) / 1000));

export interface PacingDeps {
  kv: KeyValueStore;
  log: Logger;
  clock: () => Date;
}

/**
 * Counts one gift by `person` unless the window's budget is spent: null when allowed, otherwise the
 * seconds until the next gift is allowed. Fails open.
 */
export async function takeGiftMove(deps: PacingDeps, person: string | undefined, limit = GIFT_MOVES_PER_WINDOW): Promise<number | null> {
  if (!person) return null;
  const now = deps.clock();
  try {
    const r = Number(await runScript(deps.kv, COUNT, [movesKey(person, windowOf(now))], [limit, KEY_TTL]));
    return r < 0 ? secondsLeft(now) : null;
  } catch (err) {
    deps.log.warn({ msg: 'gift pacing: move counter unavailable, allowed', error: String(err) });
    return null;
  }
}

/** Seconds until `person` may gift again (without counting anything), or null. Fails open. */
export async function giftMovesLeft(deps: PacingDeps, person: string | undefined, limit = GIFT_MOVES_PER_WINDOW): Promise<number | null> {
  if (!person) return null;
  const now = deps.clock();
  try {
    const n = Number((await deps.kv.get(movesKey(person, windowOf(now)))) ?? 0);
    return n >= limit ? secondsLeft(now) : null;
  } catch (err) {
    deps.log.warn({ msg: 'gift pacing: move counter unavailable, allowed', error: String(err) });
    return null;
  }
}

/** An undo is always allowed, but it counts towards the loop budget. */
export async function countUndo(deps: PacingDeps, person: string | undefined): Promise<void> {
  if (!person) return;
  await runScript(deps.kv, COUNT, [movesKey(person, windowOf(deps.clock()))], [0, KEY_TTL]).catch((err) =>
    deps.log.warn({ msg: 'gift pacing: undo not counted', error: String(err) }),
  );
}

/**
 * Whether this gift/undo notification from `from` to `to` may be sent now (the first of the window).
 * When it may not, the window's summary job is scheduled (one per window: the key says which); it
 * covers the whole window, the first move included.
 */
export async function paceNotification(deps: PacingDeps & { db: Queryable }, from: number, to: number): Promise<boolean> {
  const w = windowOf(deps.clock());
  try {
    if (await deps.kv.set(windowKey(from, to, w), '1', { ttlSeconds: KEY_TTL, onlyIfAbsent: true })) return true;
  } catch (err) {
    deps.log.warn({ msg: 'gift pacing: window unavailable, notifying', error: String(err) });
    return true;
  }
  const start = w * NOTIFY_WINDOW_SECONDS * 1000;
  const since = new Date(start);
  const until = new Date(start + NOTIFY_WINDOW_SECONDS * 1000);
  await schedule(deps.db, {
    kind: giftSummaryJob.kind,
    key: `gift.summary:${from}:${to}:${start}`,
    dueAt: until,
    payload: { from, to, since: since.toISOString(), until: until.toISOString() },
  });
  return false;
}

export interface WindowTotals {
  gifts: number;
  given: number;
  undos: number;
  takenBack: number;
}

/** Gifts from `from` to `to` made in [since, until) and undos of gifts between them made in it (the ledger's moves). */
export async function windowTotals(db: Queryable, from: number, to: number, since: Date, until: Date): Promise<WindowTotals> {
  const [r] = await db<{ gifts: number; given: string; undos: number; taken_back: string }[]>`
    SELECT
      (SELECT count(*)::int FROM actions g
        WHERE g.user_id = ${from} AND g.name = 'gift' AND g.status IN ('done', 'undone')
          AND g.params->>'toUserId' = ${String(to)} AND g.created_at >= ${since} AND g.created_at < ${until}) AS gifts,
      (SELECT coalesce(sum((g.params->>'amount')::bigint), 0)::text FROM actions g
        WHERE g.user_id = ${from} AND g.name = 'gift' AND g.status IN ('done', 'undone')
          AND g.params->>'toUserId' = ${String(to)} AND g.created_at >= ${since} AND g.created_at < ${until}) AS given,
      (SELECT count(*)::int FROM actions u JOIN actions g ON g.id = u.undo_of
        WHERE u.user_id = ${from} AND u.name = 'gift.undo' AND g.params->>'toUserId' = ${String(to)}
          AND u.created_at >= ${since} AND u.created_at < ${until}) AS undos,
      (SELECT coalesce(sum((g.params->>'amount')::bigint), 0)::text FROM actions u JOIN actions g ON g.id = u.undo_of
        WHERE u.user_id = ${from} AND u.name = 'gift.undo' AND g.params->>'toUserId' = ${String(to)}
          AND u.created_at >= ${since} AND u.created_at < ${until}) AS taken_back`;
  return { gifts: r!.gifts, given: Number(r!.given), undos: r!.undos, takenBack: Number(r!.taken_back) };
}

const summaryPayload = lazy(() => z.object({
  from: z.number().int().positive(),
  to: z.number().int().positive(),
  since: z.iso.datetime(),
  until: z.iso.datetime(),
}));

/** The window's summary for the receiver, rendered when it runs from the ledger's actions. */
export const giftSummaryJob: JobHandler<z.infer<typeof summaryPayload>> = {
  kind: 'gift.summary',
  payload: summaryPayload,
  maxAttempts: 3,
  async run(tx, p, ctx) {
    if (!ctx.telegram) return;
    const users = await findUsersByIds(tx, [p.from, p.to]);
    const receiver = users.get(p.to);
    if (!receiver?.telegramId) return; // erased (or never had a private chat id)
    const totals = await windowTotals(tx, p.from, p.to, new Date(p.since), new Date(p.until));
    if (totals.gifts === 0 && totals.undos === 0) return; // the sender erased their data (actions blanked)
    const name = displayName(users.get(p.from)) ?? usersMessages.someone();
    const text = usersMessages.giftSummary(name, totals);
    try {
      await ctx.telegram.sendMessage(receiver.telegramId, text, { parse_mode: 'HTML' });
    } catch (err) {
      if (isTransientTelegramError(err)) throw err; // retried by the scheduler
      ctx.log.info({ msg: 'gift summary not delivered', to: p.to, error: String(err) });
    }
  },
};
