import { z } from 'zod';
import { lazy } from '../lazy.js';
import { registerGrantProof } from '../economy/index.js';
import { registerErasureHook } from '../users/privacy.js';
import { stateProviders } from '../users/state.js';
import { removeFromRankings } from './ranking.js';
import { referralSummary } from './referrals.js';

/**
 * /borrar for rankings: the user leaves the sorted sets after the erasure commits (and /ranking
 * never shows an erased user in any case: names are read from live rows only).
 */
registerErasureHook({
  name: 'ranking',
  afterErase: (kv, ids) => removeFromRankings(kv, ids.userId, new Date()),
  // /exportar: how the ranking shows the user and their all-time score and place (from the ledger's
  // totals; the weekly board is the week's grants, already in the exported ledger).
  export: async (db, ids) => {
    const [row] = await db<{ anonymous: boolean; all_time_besitos: string | null; all_time_position: string | null }[]>`
      SELECT COALESCE((u.metadata->>'ranking_anonymous')::boolean, false) AS anonymous,
             b.lifetime_besitos AS all_time_besitos,
             CASE WHEN b.lifetime_besitos > 0 THEN
               (SELECT count(*) + 1 FROM user_balances o JOIN users ou ON ou.id = o.user_id AND ou.deleted_at IS NULL
                 WHERE o.lifetime_besitos > b.lifetime_besitos) END AS all_time_position
        FROM users u LEFT JOIN user_balances b ON b.user_id = u.id WHERE u.id = ${ids.userId}`;
    return {
      shown_as_anonymous: Boolean(row?.anonymous),
      all_time_besitos: Number(row?.all_time_besitos ?? 0),
      all_time_position: row?.all_time_position == null ? null : Number(row.all_time_position),
    };
  },
});

const referralSection = lazy(() => z.object({ code: z.string(), invited: z.number(), rewarded: z.number(), pending: z.number(), earned: z.number() }));

/** The invitations section of /perfil (loaded for /perfil and /exportar only; creates the code on first view). */
stateProviders.register({
  key: 'referrals',
  title: '🤝 Invitaciones',
  schema: referralSection,
  load: (db, userId) => referralSummary(db, userId),
  render: (v) => {
    const counts =
      v.invited === 0
        ? 'Aún no has invitado a nadie.'
        : `Invitaste a <b>${v.invited}</b>: ${v.rewarded} ya juega${v.rewarded === 1 ? '' : 'n'}${v.pending ? `, ${v.pending} por empezar` : ''} · ganaste <b>${v.earned}</b> besitos.`;
    return `${counts}\nTu código: <code>${v.code}</code> · comparte tu enlace con «📣 Invitar» o /invitar.`;
  },
  buttons: [{ text: '📣 Invitar', data: 'ref:share' }],
});

/**
 * /borrar and /exportar for referrals. Decision: a referral row holds only internal ids, like the
 * ledger, so it stays — the referrer keeps the count (and the besitos) of a referee who later erased
 * their data. A pending referral of an erased referee lapses (nothing is paid later); one whose referrer
 * erased stays pending, and when the referee plays they get their own reward and are told the inviter's
 * could not be paid (referrals.ts refereeOnly). The person's
 * abuse-prevention pseudonym is kept in referral_known_persons, so coming back through another
 * link is not "new". /exportar shows the user's own side only: never the other person's id.
 */
registerErasureHook({
  name: 'referrals',
  erase: async (tx, ids) => {
    if (ids.person) await tx`INSERT INTO referral_known_persons (person) VALUES (${ids.person}) ON CONFLICT DO NOTHING`;
    await tx`UPDATE referrals SET status = 'lapsed' WHERE referee_id = ${ids.userId} AND status = 'pending'`;
    await tx`DELETE FROM referral_codes WHERE user_id = ${ids.userId}`;
  },
  export: async (db, ids) => ({
    code: (await db`SELECT code FROM referral_codes WHERE user_id = ${ids.userId}`)[0]?.code ?? null,
    invited_by_someone: (await db`SELECT status, created_at, rewarded_at FROM referrals WHERE referee_id = ${ids.userId}`)[0] ?? null,
    invitations: await db`SELECT status, created_at, rewarded_at FROM referrals WHERE referrer_id = ${ids.userId} ORDER BY created_at`,
  }),
});

/** For the economy's anomaly detector: a 'referral' grant is explained by its rewarded referral (either side; the referee's alone when the referrer had erased). */
registerGrantProof('referral', (db) => db`EXISTS (
  SELECT 1 FROM referrals r WHERE r.status IN ('rewarded', 'referee_only')
     AND ((r.referee_id = t.user_id AND t.idempotency_key = 'referral:' || r.referee_id || ':referee')
       OR (r.status = 'rewarded' AND r.referrer_id = t.user_id AND t.idempotency_key = 'referral:' || r.referee_id || ':referrer')))`);
