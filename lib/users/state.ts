import type postgres from 'postgres';
import { z } from 'zod';
import type { Queryable } from '../db/client.js';
import type { KeyValueStore } from '../kv/types.js';
import { AccountErased, NotRegistered } from './errors.js';
import type { TelegramProfile, UserRecord } from './registration.js';

export type UserStatus = 'free' | 'vip' | 'banned';

/** Everything the bot knows about a user for one update, loaded once. */
export interface UserState extends UserRecord {
  lastName: string | null;
  languageCode: string | null;
  lastActiveAt: Date;
  besitos: number;
  lifetimeBesitos: number;
  /** Of besitos, the bonus part that expires (lib/besitos/lots.ts); 0 for most users. */
  bonusBesitos: number;
  /** Besitos under an active hold (auction bids): part of `besitos`, not spendable. */
  held: number;
  /** Consecutive days of /daily up to today or yesterday (0 when broken or never claimed). */
  streak: number;
  lastDailyDay: string | null;
  /** The active content version's id (content_active), read in the same statement; null before the first import. */
  contentVersion: number | null;
  /** Sections contributed by providers (inventory, narrative progress, subscriptions …), by key. */
  sections: Record<string, unknown>;
}

/**
 * A section of user state that a module contributes without editing the manager.
 * `select` is an SQL expression (may reference `u.id`, the user's internal id) evaluated inside the
 * one state-load statement: keep it an indexed lookup. `load` runs only when a feature asks for the
 * full profile (/perfil, /exportar), for data too costly for every update.
 */
export interface StateProvider<T = unknown> {
  key: string;
  /** Spanish section title for /perfil. */
  title: string;
  schema: z.ZodType<T>;
  select?: (sql: postgres.Sql<{}>) => postgres.PendingQuery<postgres.Row[]>;
  load?: (db: Queryable, userId: number, ctx?: FullLoadContext) => Promise<unknown>;
  /** HTML lines for /perfil (already escaped); null hides the section. */
  render?: (value: T) => string | null;
  /** Instead of title + render: several /perfil sections from one load (each headed, HTML already escaped). */
  sections?: (value: T) => ProfileSection[];
  /** Inline buttons /perfil shows for this section. */
  buttons?: { text: string; data: string }[];
}

export interface ProfileSection {
  title: string;
  body: string;
}

/** What a full load may use besides the database: /perfil passes it; /exportar reads Postgres only. */
export interface FullLoadContext {
  kv?: KeyValueStore;
  now: Date;
  timeZone: string;
}

export class StateProviders {
  private readonly list: StateProvider<any>[] = [];
  register<T>(p: StateProvider<T>): void {
    if (!/^[a-z][a-z0-9_]{0,30}$/.test(p.key)) throw new Error(`bad provider key ${p.key}`);
    if (this.list.some((x) => x.key === p.key)) throw new Error(`provider ${p.key} registered twice`);
    this.list.push(p);
  }
  all(): readonly StateProvider<any>[] {
    return this.list;
  }
  get eager(): StateProvider<any>[] {
    return this.list.filter((p) => p.select);
  }
}

/** The process-wide registry modules register into at import time. */
export const stateProviders = new StateProviders();

export interface LoadOptions {
  timeZone: string;
  now: Date;
  providers?: StateProviders;
  /** last_active_at is written at most this often (default 60 s). */
  activeEverySeconds?: number;
  /**
   * The sender's pseudonym and this update's id: an update sent before the person's erasure (lower
   * update_id) and handled after it does not register them again (AccountErased).
   */
  person?: string;
  updateId?: number;
  /**
   * A button press: a person who erased their data (within the day erasures are kept) is not
   * registered again by pressing an old button — e.g. a second tap on "Sí, borrar todo" — whatever
   * its update_id (AccountErased). Writing to the bot does register them anew.
   */
  buttonPress?: boolean;
  /**
   * false: a person with no account gets none (NotRegistered). For updates that are not someone
   * talking to the bot — a reaction in a group where the bot is an administrator.
   */
  registerNew?: boolean;
}

interface Row {
  id: number;
  telegram_id: number;
  username: string | null;
  first_name: string | null;
  last_name: string | null;
  language_code: string | null;
  status: UserStatus;
  created_at: Date;
  last_active_at: Date;
  created: boolean;
  besitos: number;
  lifetime_besitos: number;
  bonus_besitos: number;
  held: number;
  daily_day: string | null;
  daily_streak: number | null;
  daily_alive: boolean | null;
  content_version: string | null;
  [provider: `p_${string}`]: unknown;
}

/**
 * Registers (first contact) or refreshes the user and loads their typed state, in one statement:
 * the user row (inserted, or updated only when the Telegram profile changed or last_active_at is
 * older than a minute), the besitos balance, the daily streak and every eager provider section.
 * Concurrent first updates of a new user create exactly one row (unique telegram_id; the loser of
 * the insert race reads again — the only case that costs a second round trip).
 */
export async function loadUserState(db: Queryable, p: TelegramProfile, opts: LoadOptions): Promise<UserState> {
  const providers = (opts.providers ?? stateProviders).eager;
  for (let attempt = 0; attempt < 4; attempt++) {
    const rows = await stateStatement<Row>(db, p, opts, providers, null);
    const row = rows[0];
    if (row) return toState(row, providers);
    await throwIfErased(db, opts);
    if (opts.registerNew === false) throw new NotRegistered(`telegram user ${p.id}`);
    // Otherwise empty only when a concurrent first insert committed after this statement's snapshot.
  }
  throw new Error(`could not load telegram user ${p.id}`);
}

/**
 * The webhook's first statement (issue 18): claims the update in the inbox and, only if the claim
 * succeeded, registers/refreshes the sender and loads their state — one round trip instead of two.
 * `claim` is the inbox's `INSERT … ON CONFLICT … RETURNING` (lib/webhook/handle.ts); every write of
 * the state part is gated on it, so a duplicate delivery changes nothing. Returns the claim's row
 * (undefined: not claimed) and the state, or null when the state part found no row (an erased person,
 * or the insert race of loadUserState): the caller then loads it on its own, as before.
 */
export async function claimAndLoadUserState<C extends object>(
  db: Queryable,
  claim: postgres.PendingQuery<postgres.Row[]>,
  p: TelegramProfile,
  opts: LoadOptions,
): Promise<{ claim: C | undefined; state: UserState | null }> {
  const providers = (opts.providers ?? stateProviders).eager;
  const [row] = await stateStatement<Row & { claim_row: C }>(db, p, opts, providers, claim);
  if (!row) return { claim: undefined, state: null };
  return { claim: row.claim_row, state: row.id === null ? null : toState(row, providers) };
}

async function throwIfErased(db: Queryable, opts: LoadOptions): Promise<void> {
  if (!opts.person) return;
  const after = opts.buttonPress ? -1 : (opts.updateId ?? 0);
  const [erased] = await db`SELECT 1 FROM erasures WHERE person = ${opts.person} AND update_id > ${after}`;
  if (erased) throw new AccountErased('update sent before the erasure');
}

function stateStatement<R extends object>(
  db: Queryable,
  p: TelegramProfile,
  opts: LoadOptions,
  providers: StateProvider<any>[],
  claim: postgres.PendingQuery<postgres.Row[]> | null,
) {
  const every = opts.activeEverySeconds ?? 60;
  const username = p.username ?? null;
  const firstName = p.first_name ?? null;
  const lastName = p.last_name ?? null;
  const lang = p.language_code ?? null;
  // The pseudonym goes on the row (sql/190): per-person limits find it from the user id alone.
  const person = opts.person ?? null;
  // Updates sent before the person's erasure (lower update_id), and button presses, can't register them again.
  const after = opts.buttonPress ? -1 : (opts.updateId ?? 0);
  const blocked = opts.registerNew === false
    ? db`AND false`
    : opts.person
      ? db`AND NOT EXISTS (SELECT 1 FROM erasures WHERE person = ${opts.person} AND update_id > ${after})`
      : db``;
  const cols = providers.length
    ? db.unsafe(providers.map((_, i) => `, prov_${i}.v AS p_${i}`).join(''))
    : db``;
  // Provider expressions are built as fragments and joined LATERAL so they can use u.id.
  const lateral = providers.map((prov, i) => db`LEFT JOIN LATERAL (SELECT (${prov.select!(db as postgres.Sql<{}>)}) AS v) prov_${db.unsafe(String(i))} ON true`);
  // With a claim, the state part reads and writes only when the claim returned a row.
  const claimCte = claim ? db`claim AS (${claim}), ` : db``;
  const gate = claim ? db`AND EXISTS (SELECT 1 FROM claim)` : db``;
  const from = claim ? db`(SELECT to_jsonb(claim) AS claim_row FROM claim LIMIT 1) c LEFT JOIN u ON true` : db`u`;
  const claimCol = claim ? db`, c.claim_row` : db``;
  return db<R[]>`
      WITH ${claimCte}existing AS (
        SELECT * FROM users WHERE telegram_id = ${p.id} ${gate}
      ), upd AS (
        UPDATE users SET username = ${username}, first_name = ${firstName}, last_name = ${lastName}, language_code = ${lang},
               person = COALESCE(${person}::text, person),
               last_active_at = CASE WHEN last_active_at < now() - ${every} * interval '1 second' THEN now() ELSE last_active_at END
         WHERE id = (SELECT id FROM existing)
           -- Re-checked on the newest row version if /borrar committed meanwhile: never write names back onto an erased row.
           AND telegram_id = ${p.id}
           AND ((username, first_name, last_name, language_code) IS DISTINCT FROM (${username}::text, ${firstName}::text, ${lastName}::text, ${lang}::text)
                OR (${person}::text IS NOT NULL AND person IS DISTINCT FROM ${person}::text)
                OR last_active_at < now() - ${every} * interval '1 second')
        RETURNING *
      ), ins AS (
        INSERT INTO users (telegram_id, username, first_name, last_name, language_code, person)
        SELECT ${p.id}, ${username}, ${firstName}, ${lastName}, ${lang}, ${person}
         WHERE NOT EXISTS (SELECT 1 FROM existing)
           ${blocked} ${gate}
        ON CONFLICT (telegram_id) DO NOTHING
        RETURNING *
      ), bal AS (
        INSERT INTO user_balances (user_id) SELECT id FROM ins ON CONFLICT DO NOTHING
      ), u AS (
        SELECT ins.*, true AS created FROM ins
        UNION ALL SELECT upd.*, false FROM upd
        UNION ALL SELECT existing.*, false FROM existing WHERE NOT EXISTS (SELECT 1 FROM upd)
      )
      SELECT u.id, u.telegram_id, u.username, u.first_name, u.last_name, u.language_code, u.status, u.created_at,
             u.last_active_at, u.created,
             COALESCE(b.besitos, 0) AS besitos, COALESCE(b.lifetime_besitos, 0) AS lifetime_besitos, COALESCE(b.bonus_besitos, 0) AS bonus_besitos,
             COALESCE(b.held, 0) AS held,
             d.day::text AS daily_day, d.streak AS daily_streak,
             -- The streak lives while the last claim is today or yesterday, local time. Postgres knows the
             -- zone: no Intl here, whose first use loads ICU (~15-30 ms of a cold start).
             d.day BETWEEN (${opts.now}::timestamptz AT TIME ZONE ${opts.timeZone})::date - 1
                       AND (${opts.now}::timestamptz AT TIME ZONE ${opts.timeZone})::date AS daily_alive,
             (SELECT version_id FROM content_active WHERE singleton) AS content_version ${cols} ${claimCol}
        FROM ${from}
        LEFT JOIN user_balances b ON b.user_id = u.id
        LEFT JOIN LATERAL (SELECT day, streak FROM daily_claims WHERE user_id = u.id ORDER BY day DESC LIMIT 1) d ON true
        ${lateral.length ? lateral.reduce((a, f) => db`${a} ${f}`) : db``}`;
}

function toState(row: Row, providers: StateProvider<any>[]): UserState {
  const day = row.daily_day;
  const sections: Record<string, unknown> = {};
  providers.forEach((prov, i) => {
    const parsed = prov.schema.safeParse(row[`p_${i}`]);
    sections[prov.key] = parsed.success ? parsed.data : null;
  });
  return {
    id: Number(row.id),
    telegramId: Number(row.telegram_id),
    username: row.username,
    firstName: row.first_name,
    lastName: row.last_name,
    languageCode: row.language_code,
    status: row.status,
    createdAt: new Date(row.created_at),
    lastActiveAt: new Date(row.last_active_at),
    created: row.created,
    besitos: Number(row.besitos),
    lifetimeBesitos: Number(row.lifetime_besitos),
    bonusBesitos: Number(row.bonus_besitos ?? 0),
    held: Number(row.held),
    streak: row.daily_alive ? Number(row.daily_streak) : 0,
    lastDailyDay: day,
    contentVersion: row.content_version === null ? null : Number(row.content_version),
    sections,
  };
}

/** The lazy provider sections (for /perfil and /exportar), merged over the eager ones. */
export async function loadFullSections(db: Queryable, state: UserState, providers = stateProviders, ctx?: FullLoadContext): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { ...state.sections };
  // One after the other: each is one statement, and one update holds one pooled connection, not several.
  for (const prov of providers.all()) {
    if (!prov.load) continue;
    const parsed = prov.schema.safeParse(await prov.load(db, state.id, ctx));
    out[prov.key] = parsed.success ? parsed.data : null;
  }
  return out;
}
