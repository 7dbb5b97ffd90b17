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

/** The ledger invariant for some users: balance = sum of transactions, and never negative. */
export async function ledgerMismatches(db: Queryable, userIds?: number[]) {
  return db<{ user_id: number; besitos: number; sum: number }[]>`
    SELECT b.user_id, b.besitos, COALESCE(t.sum, 0)::bigint AS sum
      FROM user_balances b
      LEFT JOIN (SELECT user_id, SUM(amount) AS sum FROM transactions GROUP BY user_id) t USING (user_id)
     WHERE (b.besitos <> COALESCE(t.sum, 0) OR b.besitos < 0)
       ${userIds ? db`AND b.user_id IN ${db(userIds)}` : db``}`;
}
