import { z } from 'zod';
import { lazy } from '../lazy.js';
import { kvScript, runScript } from '../kv/script.js';
import type { KeyValueStore } from '../kv/types.js';
import { AccountErased } from './errors.js';

/**
 * Conversation state for multi-step flows: one small session per (chat, user) in the key-value
 * store, with a TTL. Each flow owns one field, typed by its own zod schema and with its own expiry.
 *
 * Writes are a versioned compare-and-set (a Lua script, atomic on Redis, Upstash and the in-memory
 * store alike): read "<version>|<json>", apply the change, write only if the version is unchanged,
 * otherwise read again and re-apply. Two concurrent updates of different fields both survive — the
 * lost update of telegraf's session middleware (telegraf#1372) cannot happen.
 */

const CAS = kvScript(`
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return {2, 0} end
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = tonumber(string.match(cur, '^(%d+)|')) or 0 end
if v ~= tonumber(ARGV[1]) then return {0, v} end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], tostring(v + 1) .. '|' .. ARGV[2], 'PX', ARGV[3])
end
return {1, v + 1}
`);

export interface SessionField<T> {
  name: string;
  schema: z.ZodType<T>;
  /** How long a value of this field lives (the flow's time limit). */
  ttlSeconds: number;
}

export function sessionField<T>(name: string, schema: z.ZodType<T>, ttlSeconds: number): SessionField<T> {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(name)) throw new Error(`bad session field ${name}`);
  return { name, schema, ttlSeconds };
}

const stored = lazy(() => z.record(z.string(), z.object({ v: z.unknown(), exp: z.number() })));
type Stored = z.infer<typeof stored>;

export class SessionConflict extends Error {
  constructor(key: string) {
    super(`session ${key}: too many concurrent writers`);
    this.name = 'SessionConflict';
  }
}

/** The account a session belongs to: this incarnation of the user (a re-registered user is another). */
export interface SessionOwner {
  id: number;
  createdAt: Date;
}
const ownerTag = (o: SessionOwner) => `${o.id}.${o.createdAt.getTime()}`;

/**
 * Key of a user's session in a chat. It names the account by internal id and creation time (unique
 * even across databases sharing one Redis), never by Telegram id: the private chat (whose id is the
 * Telegram id) is `pm`. /borrar deletes `sess:<owner>:*` and leaves `sess-gone:<owner>`, which makes
 * every later write of that account's sessions fail (a handler still running for it can't leave one).
 */
export const sessionKey = (owner: SessionOwner, chatId: number) => `sess:${ownerTag(owner)}:${chatId > 0 ? 'pm' : chatId}`;
export const sessionPattern = (owner: SessionOwner) => `sess:${ownerTag(owner)}:*`;
export const sessionTombstone = (owner: SessionOwner) => `sess-gone:${ownerTag(owner)}`;
const tombstoneOf = (key: string) => {
  const m = /^sess:([^:]+):/.exec(key);
  return m ? `sess-gone:${m[1]}` : `${key}:gone`;
};

export interface SessionStoreOptions {
  now?: () => number;
  /** Upper bound of the whole session's life in the store (default one day). */
  maxTtlSeconds?: number;
}

export class SessionStore {
  private readonly now: () => number;
  private readonly maxTtl: number;
  constructor(private readonly kv: KeyValueStore, opts: SessionStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.maxTtl = opts.maxTtlSeconds ?? 86_400;
  }

  private async readRaw(key: string): Promise<{ version: number; data: Stored }> {
    const raw = await this.kv.get(key);
    if (!raw) return { version: 0, data: {} };
    const bar = raw.indexOf('|');
    const version = Number(raw.slice(0, bar));
    let data: Stored = {};
    try {
      const parsed = stored.safeParse(JSON.parse(raw.slice(bar + 1)));
      if (parsed.success) data = parsed.data;
    } catch {
      /* a corrupt session is an empty one */
    }
    return { version: Number.isFinite(version) ? version : 0, data };
  }

  /** The live value of a field, or null when absent, expired or no longer matching its schema. */
  async get<T>(key: string, field: SessionField<T>): Promise<T | null> {
    const { data } = await this.readRaw(key);
    const entry = data[field.name];
    if (!entry || entry.exp <= this.now()) return null;
    const parsed = field.schema.safeParse(entry.v);
    return parsed.success ? parsed.data : null;
  }

  /**
   * Changes one field with compare-and-set: `change` gets the current live value (or null) and
   * returns the new one, or null to remove the field. It may run more than once under contention.
   */
  async update<T>(key: string, field: SessionField<T>, change: (current: T | null) => T | null): Promise<T | null> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const { version, data } = await this.readRaw(key);
      const now = this.now();
      for (const [name, entry] of Object.entries(data)) if (entry.exp <= now) delete data[name];
      const current = data[field.name] ? field.schema.safeParse(data[field.name]!.v) : null;
      const next = change(current?.success ? current.data : null);
      if (next === null) delete data[field.name];
      else data[field.name] = { v: field.schema.parse(next), exp: now + field.ttlSeconds * 1000 };
      const empty = Object.keys(data).length === 0;
      const ttlMs = empty ? 0 : Math.min(Math.max(...Object.values(data).map((e) => e.exp)) - now, this.maxTtl * 1000);
      const [ok] = (await runScript(this.kv, CAS, [key, tombstoneOf(key)], [version, empty ? '' : JSON.stringify(data), Math.max(ttlMs, 1)])) as [number, number];
      if (Number(ok) === 1) return next;
      if (Number(ok) === 2) throw new AccountErased(`session ${key}`);
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
    throw new SessionConflict(key);
  }

  set<T>(key: string, field: SessionField<T>, value: T): Promise<T | null> {
    return this.update(key, field, () => value);
  }

  clear<T>(key: string, field: SessionField<T>): Promise<T | null> {
    return this.update(key, field, () => null);
  }

  /** Every field of a session, for /exportar. */
  async dump(key: string): Promise<Record<string, { value: unknown; expiresAt: string }>> {
    const { data } = await this.readRaw(key);
    const now = this.now();
    return Object.fromEntries(
      Object.entries(data)
        .filter(([, e]) => e.exp > now)
        .map(([k, e]) => [k, { value: e.v, expiresAt: new Date(e.exp).toISOString() }]),
    );
  }
}
