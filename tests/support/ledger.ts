import type { Queryable } from '../../lib/db/client.js';
import { registerUser } from '../../lib/users/registration.js';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { uniqueTelegramId } from './db.js';

/** A registered user with `besitos` granted through the ledger (never by writing the balance). */
export async function userWithBesitos(db: Queryable, besitos = 0): Promise<number> {
  const user = await registerUser(db, { id: uniqueTelegramId(), first_name: 'Prueba' });
  if (besitos > 0) {
    await grantBesitos(db, { userId: user.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${user.id}` });
  }
  return user.id;
}

/**
 * The ledger invariants for some users: balance = sum of transactions, never negative; and (bonus lots,
 * lib/besitos/lots.ts) bonus_besitos = Σ open lots' remaining ≤ balance, so that balance = the
 * non-expiring part + Σ open lots. A row per user that breaks one.
 */
export async function ledgerMismatches(db: Queryable, userIds?: number[]) {
  return db<{ user_id: number; besitos: number; sum: number; bonus: number; lots: number }[]>`
    SELECT b.user_id, b.besitos, COALESCE(t.sum, 0)::bigint AS sum, b.bonus_besitos AS bonus, COALESCE(l.lots, 0)::bigint AS lots
      FROM user_balances b
      LEFT JOIN (SELECT user_id, SUM(amount) AS sum FROM transactions GROUP BY user_id) t USING (user_id)
      LEFT JOIN (SELECT user_id, SUM(remaining) AS lots FROM besitos_lots GROUP BY user_id) l USING (user_id)
     WHERE (b.besitos <> COALESCE(t.sum, 0) OR b.besitos < 0 OR b.bonus_besitos <> COALESCE(l.lots, 0) OR b.bonus_besitos > b.besitos)
       ${userIds ? db`AND b.user_id IN ${db(userIds)}` : db``}`;
}

/** A user's open lots, soonest first: [remaining, expires_at ISO]. */
export async function openLotsOf(db: Queryable, userId: number) {
  return (
    await db<{ remaining: number; expires_at: Date }[]>`
      SELECT remaining, expires_at FROM besitos_lots WHERE user_id = ${userId} AND remaining > 0 ORDER BY expires_at, id`
  ).map((r) => [Number(r.remaining), new Date(r.expires_at).toISOString()] as const);
}
