/**
 * The economy policy (seed §4.1), in one place: every source of besitos with its amounts and its
 * caps per person, every sink, and the bonus (expiring) rules. Validated by zod when the module loads.
 *
 * HOW TO USE IT (for features that grant or spend):
 *   - Grant through lib/besitos/ledger.ts `grantBesitos(db, { userId, amount, source, idempotencyKey,
 *     person?, now?, timeZone? })`. `source` must be a key of `economyPolicy.sources`, or `key:detail`
 *     (`reaction:post:42`, `event:navidad`: same policy and caps as its key) — else UnknownSource, a
 *     programming error. If the source has caps, the grant's own statement checks and
 *     counts them (counter row per person/user, source and period: besitos_caps), so it is exact under
 *     concurrency. Over the cap the grant is REFUSED, never clipped: it throws `CapReached`
 *     (lib/besitos/errors.ts: source, period 'day' | 'week', limit, used, resetsAt) and writes nothing.
 *     Inside your transaction the statement leaves it usable, so catch it and tell the user:
 *     `capReachedText(err, timeZone, now)` (below) gives the Spanish sentence ("Ya alcanzaste el máximo
 *     de hoy…"); the bot maps it by itself when the error reaches lib/bot/errors.ts.
 *   - Caps are counted per person (the abuse pseudonym, lib/users/pseudonym.ts), so /borrar + coming
 *     back doesn't reset them: the grant's statement reads it from the account (users.person, kept
 *     after /borrar), so bus subscribers need not know it. `person` (ctx.state.person) may be passed
 *     when you have it; an account with no pseudonym yet (none since sql/190) counts per user id.
 *   - `now` / `timeZone`: the injected clock's time and BOT_TIMEZONE (days and ISO weeks, Monday first,
 *     are local). Default: the wall clock and the zone the app configured (setEconomyTimeZone).
 *   - Amounts: read yours from here (`sourceAmount('reaction')`); ranges document what content may give.
 *   - Spend with `spendBesitos(db, { …, source })`, source a key of `economyPolicy.sinks`.
 *   - Bonus besitos (expire `bonus.expireDays` after the grant if unspent): `grantBesitos(db, { …, bonus: true })`.
 *     Check before granting without writing: `capHeadroom(db, …)` in ledger.ts.
 */
import { z } from 'zod';
import { lazy } from '../lazy.js';
import { formatWhen } from '../time/format.js';
import type { CapReached } from './errors.js';

const cap = lazy(() => z
  .object({
    /** Most besitos per period (inclusive). */
    besitos: z.number().int().positive().optional(),
    /** Most grants per period (inclusive). */
    grants: z.number().int().positive().optional(),
  })
  .strict()
  .refine((c) => c.besitos !== undefined || c.grants !== undefined, 'a cap needs besitos or grants'));

const amount = lazy(() => z.union([
  z.number().int().positive(),
  z.object({ min: z.number().int().positive(), max: z.number().int().positive() }).strict().refine((a) => a.min <= a.max, 'min > max'),
]));

const source = lazy(() => z
  .object({
    label: z.string().min(1),
    /** What one grant gives (a number) or the range content and features may give. */
    amount: amount.optional(),
    caps: z.object({ day: cap.optional(), week: cap.optional() }).strict().default({}),
    /** Grants of this source are bonus (expiring) unless the caller says otherwise. */
    bonus: z.boolean().default(false),
  })
  .strict());

const sink = lazy(() => z.object({ label: z.string().min(1) }).strict());

const identifier = lazy(() => z.string().regex(/^[a-z][a-z0-9_]{0,31}$/));

export const economyPolicySchema = lazy(() => z
  .object({
    sources: z.record(identifier, source),
    sinks: z.record(identifier, sink),
    bonus: z.object({ expireDays: z.number().int().positive(), warnDaysBefore: z.number().int().positive() }).strict(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.bonus.warnDaysBefore >= p.bonus.expireDays) ctx.addIssue({ code: 'custom', message: 'warnDaysBefore must be shorter than expireDays' });
  }));

export type EconomyPolicy = z.output<typeof economyPolicySchema>;
export type SourcePolicy = EconomyPolicy['sources'][string];
export type CapPeriod = 'day' | 'week';

/**
 * Seed §4.1: daily 10; missions 20–50; trivia 5–15 (×2 with the power-up); reactions 2, at most 3 a
 * day; achievements 50–200. Caps leave room for an honest very active day and stop repetition.
 */
export const economyPolicy: EconomyPolicy = lazy(() => economyPolicySchema.parse({
  sources: {
    daily: { label: 'Regalo diario', amount: { min: 1, max: 1000 }, caps: { day: { grants: 1 } } },
    mission: { label: 'Misiones', amount: { min: 20, max: 50 }, caps: { day: { besitos: 200 }, week: { besitos: 600 } } },
    trivia: { label: 'Trivias', amount: { min: 5, max: 30 }, caps: { day: { besitos: 150, grants: 15 } } },
    reaction: { label: 'Reacciones', amount: 2, caps: { day: { grants: 3, besitos: 6 } } },
    achievement: { label: 'Logros', amount: { min: 50, max: 200 }, caps: { day: { besitos: 1500 } } },
    referral: { label: 'Invitaciones', amount: { min: 10, max: 100 }, caps: { day: { grants: 5 }, week: { grants: 15 } } },
    story: { label: 'Historia', amount: { min: 1, max: 100 }, caps: { day: { besitos: 300 } } },
    event: { label: 'Eventos especiales (bonus)', bonus: true },
    admin: { label: 'Ajuste de administración' },
  },
  sinks: {
    shop: { label: 'Tienda' },
    story: { label: 'Fragmentos premium' },
    gift: { label: 'Regalos' },
    auction: { label: 'Subastas' },
    tax: { label: 'Comisión de subastas' },
    expire: { label: 'Besitos bonus caducados' },
    admin: { label: 'Ajuste de administración' },
  },
  bonus: { expireDays: 30, warnDaysBefore: 3 },
}, { jitless: true })); // one parse of a constant: no compiled fast path (lib/config.ts)
// A name may be both a source and a sink: 'story' rewards the reader and sells premium fragments.

export class UnknownSource extends Error {
  constructor(readonly kind: 'source' | 'sink', readonly name: string) {
    super(`"${name}" is not a ${kind} of the economy policy (lib/besitos/policy.ts)`);
    this.name = 'UnknownSource';
  }
}

/**
 * The policy key of a source or sink name: the name itself, or its family before ':' — `event:navidad`
 * is an 'event' grant of the Christmas campaign, `reaction:post:42` a reaction; caps count per family.
 */
export function policyKey(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(0, i);
}

export function sourcePolicy(name: string, policy: EconomyPolicy = economyPolicy): SourcePolicy {
  const s = policy.sources[policyKey(name)];
  if (!s) throw new UnknownSource('source', name);
  return s;
}

export function assertSink(name: string, policy: EconomyPolicy = economyPolicy): void {
  if (!policy.sinks[policyKey(name)]) throw new UnknownSource('sink', name);
}

/** The day and week caps of a source family, as the policy states them. */
export type SourceCaps = SourcePolicy['caps'];

/**
 * Every source family that has a day or a week cap, with its caps: what the ledger enforces in the
 * grant's statement and what the anomaly detector (lib/economy) checks the ledger's rows against.
 */
export function cappedSources(policy: EconomyPolicy = economyPolicy): Record<string, SourceCaps> {
  return Object.fromEntries(Object.entries(policy.sources).flatMap(([key, s]) => (s.caps.day || s.caps.week ? [[key, s.caps]] : [])));
}

/** The fixed amount of a source (e.g. reaction → 2); the range's minimum when it is a range. */
export function sourceAmount(name: string): number {
  const a = sourcePolicy(name).amount;
  if (a === undefined) throw new Error(`source ${name} has no amount in the policy`);
  return typeof a === 'number' ? a : a.min;
}

/** Zone for periods when a caller gives none; the app sets BOT_TIMEZONE at start. */
let defaultTimeZone = 'America/Mexico_City';
export function setEconomyTimeZone(tz: string): void {
  defaultTimeZone = tz;
}
export function economyTimeZone(): string {
  return defaultTimeZone;
}

/** "Ya alcanzaste el máximo de hoy…" for a refused grant. */
export function capReachedText(err: CapReached, timeZone: string, now: Date): string {
  const label = economyPolicy.sources[policyKey(err.source)]?.label.toLowerCase() ?? err.source;
  const what = err.unit === 'grants' ? `${err.limit} ${err.limit === 1 ? 'vez' : 'veces'}` : `${err.limit} besitos`;
  const when = formatWhen(err.resetsAt, timeZone, now);
  return err.period === 'day'
    ? `Ya alcanzaste el máximo de hoy en ${label} (${what} al día). Vuelve a intentarlo ${when}.`
    : `Ya alcanzaste el máximo de esta semana en ${label} (${what} a la semana). Vuelve a intentarlo ${when}.`;
}
