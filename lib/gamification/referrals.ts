import { z } from 'zod';
import { lazy } from '../lazy.js';
import { CapReached } from '../besitos/errors.js';
import { grantBesitos } from '../besitos/ledger.js';
import { newEvent, publish } from '../bus/outbox.js';
import { registerCommand } from '../commands/index.js';
import type { Queryable } from '../db/client.js';
import { jobHandlers, schedule, type JobHandler } from '../scheduler/index.js';
import { localDate } from '../time/zone.js';
import type { Tx } from './repository.js';
import {
  decideQualify,
  decideReferral,
  DEFAULT_REFERRAL_DAILY_CAP,
  DEFAULT_REFERRAL_REWARDS,
  type ReferralRefusal,
  type ReferralRewards,
} from './rules-referral.js';
import { rankingName } from './rules-ranking.js';

/**
 * Referrals: t.me/<bot>?start=ref_<code>. Recording is the command `referral.record` (keyed by the
 * /start update: a redelivery records once); the reward is paid by the gamification subscriber when
 * the referee has played (first fragment completed or first /regalo claimed), once, to both, through
 * the ledger (source 'referral'), within the referrer's daily cap — all in the subscriber's transaction
 * with `gamification.referral_rewarded`, so a replayed event pays nothing twice.
 *
 * Farming refused: a self-referral, an existing user (an account older than this update that already
 * moved besitos, or a person who erased an account before: referral_known_persons), a second
 * referral, a ring (the referee is among the referrer's referrers), and more rewarded referrals a
 * day than the cap (then neither is rewarded: status 'capped').
 * A referrer who erased their data before the referee played: the referee is still paid their own
 * reward and told the inviter's could not be paid (status 'referee_only').
 */

export const REFERRAL_SOURCE = 'referral';

/** How long after the account's creation a /start with a referral still counts as the first contact (a retried update, a first "hola"). */
const FRESH_MINUTES = 10;

function randomCode(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Whether the referee counts as new: the account was created by this /start (or minutes ago, with no ledger row yet) and the person never had one before. */
export async function refereeIsNew(db: Queryable, p: { userId: number; createdNow: boolean; person: string | null; now: Date }): Promise<boolean> {
  const [row] = await db<{ fresh: boolean; known: boolean }[]>`
    SELECT (${p.createdNow} OR (u.created_at > ${p.now}::timestamptz - make_interval(mins => ${FRESH_MINUTES})
                                 AND NOT EXISTS (SELECT 1 FROM transactions WHERE user_id = u.id))) AS fresh,
           EXISTS (SELECT 1 FROM referral_known_persons WHERE person = ${p.person ?? ''}) AS known
      FROM users u WHERE u.id = ${p.userId}`;
  return Boolean(row?.fresh) && !row?.known;
}

export const recordParams = lazy(() => z.object({ code: z.string().regex(/^[a-z0-9]{8}$/), isNew: z.boolean() }));
export type RecordParams = z.output<typeof recordParams>;
export type RecordResult = { ok: true; referrerName: string } | { ok: false; reason: ReferralRefusal };

/** Records who invited the user (or refuses, saying why), with its event, once per /start update. */
export const recordReferralCommand = registerCommand<RecordParams, RecordResult>({
  name: 'referral.record',
  params: recordParams,
  async execute({ tx, userId, now }, p) {
    // The referrer (a live account), whether the user was referred already, and the referrer's own
    // chain of referrers (for rings), in one statement.
    const [row] = await tx<{ referrer_id: string | null; referrer_name: string | null; already: boolean; ancestors: string[] | null }[]>`
      WITH r AS (
        SELECT c.user_id, u.first_name FROM referral_codes c JOIN users u ON u.id = c.user_id AND u.deleted_at IS NULL
         WHERE c.code = ${p.code}
      )
      SELECT (SELECT user_id FROM r) AS referrer_id,
             (SELECT first_name FROM r) AS referrer_name,
             EXISTS (SELECT 1 FROM referrals WHERE referee_id = ${userId}) AS already,
             (WITH RECURSIVE up(id, depth) AS (
                SELECT referrer_id, 1 FROM referrals WHERE referee_id = (SELECT user_id FROM r)
                UNION
                SELECT f.referrer_id, up.depth + 1 FROM referrals f JOIN up ON f.referee_id = up.id WHERE up.depth < 100
              ) SELECT array_agg(id) FROM up) AS ancestors`;
    const referrerId = row?.referrer_id == null ? null : Number(row.referrer_id);
    const decision = decideReferral({
      refereeId: userId,
      referrerId,
      refereeIsNew: p.isNew,
      refereeAlreadyReferred: Boolean(row?.already),
      referrerAncestors: (row?.ancestors ?? []).map(Number),
    });
    if (decision.ok) {
      const inserted = await tx`
        INSERT INTO referrals (referee_id, referrer_id, created_at) VALUES (${userId}, ${referrerId!}, ${now})
        ON CONFLICT (referee_id) DO NOTHING RETURNING referee_id`;
      if (inserted.length === 1) {
        await publish(tx, newEvent('gamification.referral_recorded', { referrer_id: referrerId! }, userId, now));
        return { ok: true, referrerName: rankingName(row?.referrer_name ?? null, false) };
      }
    }
    const reason: ReferralRefusal = decision.ok ? 'already_referred' : decision.reason;
    await publish(tx, newEvent('gamification.referral_refused', { reason, referrer_id: referrerId }, userId, now));
    return { ok: false, reason };
  },
});

/** Lock class of the per-referrer advisory lock ('ref'): the daily cap is counted and used under it. */
const REFERRER_LOCK = 0x726566;

export interface ReferralSettings {
  rewards: ReferralRewards;
  dailyCap: number;
}
export const DEFAULT_REFERRAL_SETTINGS: ReferralSettings = { rewards: DEFAULT_REFERRAL_REWARDS, dailyCap: DEFAULT_REFERRAL_DAILY_CAP };

/**
 * The referee has played: pays the pending referral once (subscriber transaction, under the
 * referee's gamification lock). Both user rows are held FOR KEY SHARE, so a concurrent /borrar of
 * either waits for this transaction (its balance then goes with the account) or comes first (then
 * nothing is paid: 'lapsed').
 */
export async function qualifyReferral(tx: Tx, refereeId: number, now: Date, timeZone: string, settings = DEFAULT_REFERRAL_SETTINGS): Promise<void> {
  const [pending] = await tx<{ referrer_id: string }[]>`SELECT referrer_id FROM referrals WHERE referee_id = ${refereeId} AND status = 'pending'`;
  if (!pending) return;
  const referrerId = Number(pending.referrer_id);
  const day = localDate(now, timeZone);
  await tx`SELECT pg_advisory_xact_lock(${REFERRER_LOCK}, ${referrerId}::int)`;
  // After the lock, in a statement of its own: it sees every reward committed before the lock was granted.
  const [state] = await tx<{ alive: string[] | null; rewarded_today: string }[]>`
    WITH alive AS (
      SELECT id FROM users WHERE id IN (${refereeId}, ${referrerId}) AND deleted_at IS NULL ORDER BY id FOR KEY SHARE
    )
    SELECT (SELECT array_agg(id) FROM alive) AS alive,
           (SELECT count(*) FROM referrals WHERE referrer_id = ${referrerId} AND status = 'rewarded' AND reward_day = ${day}) AS rewarded_today`;
  const alive = new Set((state?.alive ?? []).map(Number));
  if (!alive.has(refereeId)) return; // erased: the erasure marks it lapsed
  if (!alive.has(referrerId)) return refereeOnly(tx, refereeId, referrerId, now, timeZone, settings);
  const decision = decideQualify('pending', Number(state?.rewarded_today ?? 0), settings.dailyCap, settings.rewards);
  const updated = await tx`
    UPDATE referrals SET status = ${decision.reward ? 'rewarded' : 'capped'}, rewarded_at = ${now}, reward_day = ${day}
     WHERE referee_id = ${refereeId} AND status = 'pending' RETURNING referee_id`;
  if (updated.length === 0) return;
  let paid = false;
  let capped: ReferralNotice['capped'] = decision.reward ? undefined : { by: 'invites', period: 'day', limit: settings.dailyCap };
  if (decision.reward) {
    const { referee, referrer } = decision.rewards;
    try {
      // Both or neither: the economy policy's caps on 'referral' (lib/besitos/policy.ts) may refuse one.
      await tx.savepoint(async (sp) => {
        const grant = (userId: number, amount: number, side: 'referee' | 'referrer', description: string) =>
          amount > 0 ? grantBesitos(sp, { userId, amount, source: REFERRAL_SOURCE, idempotencyKey: `referral:${refereeId}:${side}`, description, now, timeZone }) : null;
        await grant(refereeId, referee, 'referee', 'Bienvenida por invitación');
        await grant(referrerId, referrer, 'referrer', 'Invitaste a alguien que ya juega');
      });
      paid = true;
    } catch (err) {
      if (!(err instanceof CapReached)) throw err;
      capped = { by: 'policy', period: err.period, limit: err.limit };
      await tx`UPDATE referrals SET status = 'capped' WHERE referee_id = ${refereeId}`;
    }
    if (paid) {
      await publish(tx, newEvent('gamification.referral_rewarded', { referrer_id: referrerId, referee_reward: referee, referrer_reward: referrer }, refereeId, now));
      await notifyBoth(tx, refereeId, referrerId, now, { referee, referrer });
    }
  }
  if (!paid) {
    await publish(tx, newEvent('gamification.referral_not_rewarded', { referrer_id: referrerId, reason: 'capped' }, refereeId, now));
    // Both are told why nothing came, rather than waiting for besitos that never arrive.
    await notifyBoth(tx, refereeId, referrerId, now, { referee: 0, referrer: 0 }, capped);
  }
}

/**
 * The referrer erased their data before the referee played: the referee keeps their own reward (paid
 * once, key `referral:<referee>:referee`, within the policy's caps like any referral grant), nothing goes
 * to the erased account, and the referee is told that the inviter's reward could not be paid.
 */
async function refereeOnly(tx: Tx, refereeId: number, referrerId: number, now: Date, timeZone: string, settings: ReferralSettings): Promise<void> {
  const updated = await tx`
    UPDATE referrals SET status = 'referee_only', rewarded_at = ${now}, reward_day = ${localDate(now, timeZone)}
     WHERE referee_id = ${refereeId} AND status = 'pending' RETURNING referee_id`;
  if (updated.length === 0) return;
  const amount = settings.rewards.referee;
  let notice: ReferralNotice = { user_id: refereeId, role: 'referee', besitos: amount, inviter_gone: true };
  try {
    if (amount > 0)
      await tx.savepoint((sp) =>
        grantBesitos(sp, { userId: refereeId, amount, source: REFERRAL_SOURCE, idempotencyKey: `referral:${refereeId}:referee`, description: 'Bienvenida por invitación', now, timeZone }),
      );
  } catch (err) {
    if (!(err instanceof CapReached)) throw err;
    await tx`UPDATE referrals SET status = 'capped' WHERE referee_id = ${refereeId}`;
    notice = { user_id: refereeId, role: 'referee', besitos: 0, inviter_gone: true, capped: { by: 'policy', period: err.period, limit: err.limit } };
  }
  // The invitation's reward (the referrer's) was not paid: that is what the event says; the referee's grant has its own.
  await publish(tx, newEvent('gamification.referral_not_rewarded', { referrer_id: referrerId, reason: 'lapsed' }, refereeId, now));
  await schedule(tx, { kind: referralNoticeJob.kind, key: `referral.notice:${refereeId}:referee`, dueAt: now, payload: notice });
}

/** One notice job each, keyed by the referral and side: a referral is told once, whatever its outcome. */
async function notifyBoth(tx: Tx, refereeId: number, referrerId: number, now: Date, besitos: ReferralRewards, capped?: ReferralNotice['capped']) {
  for (const [role, userId] of [['referee', refereeId], ['referrer', referrerId]] as const) {
    const payload: ReferralNotice = { user_id: userId, role, besitos: besitos[role], ...(capped ? { capped } : {}) };
    await schedule(tx, { kind: referralNoticeJob.kind, key: `referral.notice:${refereeId}:${role}`, dueAt: now, payload });
  }
}

const noticePayload = lazy(() =>
  z.object({
    user_id: z.number().int().positive(),
    role: z.enum(['referee', 'referrer']),
    besitos: z.number().int().min(0),
    /** Nothing was paid: the referrer's invitations of the day ('invites'), or the economy policy's cap on referral grants ('policy'). */
    capped: z.object({ by: z.enum(['invites', 'policy']), period: z.enum(['day', 'week']), limit: z.number().int().positive() }).optional(),
    /** To the referee: the referrer erased their data before the referee played, so the inviter's reward could not be paid. */
    inviter_gone: z.boolean().optional(),
  }),
);
export type ReferralNotice = z.output<typeof noticePayload>;

export function referralNoticeText(n: ReferralNotice): string {
  if (n.inviter_gone) {
    const gone = 'Quien te invitó borró su cuenta antes de que empezaras a jugar, así que su premio por invitarte no se pudo pagar.';
    return n.capped
      ? `🙌 ¡Ya estás jugando! ${gone} Y esta vez la invitación tampoco te trae besitos a ti: ${n.capped.period === 'day' ? 'hoy' : 'esta semana'} ya se alcanzó el límite de premios por invitaciones. Lo que ganes jugando es todo tuyo: mira /misiones.`
      : `🎉 ¡Ya estás jugando! ${gone} El tuyo sí: por llegar con una invitación recibes <b>${n.besitos} besitos</b>. Mira tu saldo con /saldo.`;
  }
  if (n.capped) {
    const when = n.capped.period === 'day' ? 'hoy' : 'esta semana';
    const why =
      n.capped.by === 'invites'
        ? n.role === 'referee'
          ? `quien te invitó ya llegó ${when} al máximo de ${n.capped.limit} invitaciones premiadas`
          : `${when} ya llegaste al máximo de ${n.capped.limit} invitaciones premiadas`
        : `${when} ya se alcanzó el límite de premios por invitaciones`;
    return n.role === 'referee'
      ? `🙌 ¡Ya estás jugando! Esta vez la invitación no trae besitos: ${why}, así que no los recibe ninguno de los dos. Lo que ganes jugando es todo tuyo: mira /misiones.`
      : `🤝 Alguien a quien invitaste ya está jugando, pero esta invitación no trae besitos: ${why}, así que no los recibe ninguno de los dos.` +
          (n.capped.period === 'day' ? ' Las invitaciones que empiecen a jugar mañana vuelven a contar.' : '');
  }
  return n.role === 'referee'
    ? `🎉 ¡Ya estás jugando! Por llegar con una invitación recibes <b>${n.besitos} besitos</b>. Mira tu saldo con /saldo.`
    : `🤝 ¡Alguien a quien invitaste ya está jugando! Recibes <b>${n.besitos} besitos</b>. Sigue invitando desde /perfil.`;
}

/** The "you were rewarded" (or "nothing this time, and why") message to each, sent by the scheduler (at least once; never for the same referral twice). */
export const referralNoticeJob: JobHandler<ReferralNotice> = {
  kind: 'gamification.referral_notice',
  payload: noticePayload,
  async run(tx, n, ctx) {
    if (!ctx.telegram) throw new Error('no Bot API client to send the referral notice');
    const [user] = await tx<{ telegram_id: number | null }[]>`SELECT telegram_id FROM users WHERE id = ${n.user_id} AND deleted_at IS NULL`;
    if (!user?.telegram_id) return; // erased meanwhile
    try {
      await ctx.telegram.sendMessage(Number(user.telegram_id), referralNoticeText(n), { parse_mode: 'HTML' });
    } catch (err) {
      const code = (err as { response?: { error_code?: number } }).response?.error_code;
      if (code === 403 || code === 400) return;
      throw err;
    }
  },
};
jobHandlers.ensure(referralNoticeJob);

export interface ReferralSummary {
  code: string;
  invited: number;
  rewarded: number;
  pending: number;
  earned: number;
}

/** The /perfil section: the code (created on first view) and what the invitations gave, in one statement. */
export async function referralSummary(db: Queryable, userId: number): Promise<ReferralSummary> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const [row] = await db<{ code: string | null; invited: string; rewarded: string; pending: string; earned: string }[]>`
      WITH ins AS (
        INSERT INTO referral_codes (user_id, code)
        SELECT ${userId}, ${randomCode()}
         WHERE EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND deleted_at IS NULL)
           AND NOT EXISTS (SELECT 1 FROM referral_codes WHERE user_id = ${userId})
        ON CONFLICT DO NOTHING RETURNING code
      )
      SELECT COALESCE((SELECT code FROM ins), (SELECT code FROM referral_codes WHERE user_id = ${userId})) AS code,
             count(*) AS invited,
             count(*) FILTER (WHERE status = 'rewarded') AS rewarded,
             count(*) FILTER (WHERE status = 'pending') AS pending,
             COALESCE((SELECT sum(amount) FROM transactions WHERE user_id = ${userId} AND source = ${REFERRAL_SOURCE}
                          AND idempotency_key LIKE 'referral:%:referrer'), 0) AS earned
        FROM referrals WHERE referrer_id = ${userId}`;
    if (row?.code)
      return { code: row.code, invited: Number(row.invited), rewarded: Number(row.rewarded), pending: Number(row.pending), earned: Number(row.earned) };
  }
  throw new Error('could not allocate a referral code');
}
