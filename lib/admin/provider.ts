import { z } from 'zod';
import { lazy } from '../lazy.js';
import { registerErasureHook } from '../users/privacy.js';
import { stateProviders } from '../users/state.js';
import { schedule } from '../scheduler/index.js';
import { endVip } from './repository.js';
import './jobs.js';

const section = lazy(() =>
  z
    .object({
      status: z.string(),
      plan: z.string(),
      expires_at: z.coerce.date(),
      recurring: z.boolean(),
      renewal_canceled: z.boolean(),
    })
    .nullable(),
);

const fmt = lazy(() => new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'long', year: 'numeric' }));

/**
 * The VIP section of the user's state: loaded only for /perfil and /exportar (users.status already
 * says 'vip' on every update, so no per-update work is added).
 */
stateProviders.register({
  key: 'vip',
  title: '⭐ VIP',
  schema: section,
  load: async (db, userId) => {
    const [row] = await db`SELECT status, plan, expires_at, recurring, renewal_canceled FROM vip_subscriptions WHERE user_id = ${userId}`;
    return row ?? null;
  },
  render: (v) => {
    if (!v || v.status !== 'active') return null;
    const renews = v.recurring && !v.renewal_canceled;
    return `${renews ? 'Se renueva el' : 'Activo hasta el'} ${fmt.format(v.expires_at)} · /vip`;
  },
});

/**
 * /borrar: the VIP ends with the account; the charges stay for accounting (charge id, amounts, dates),
 * pointing at the internal id whose personal data is gone, as the ledger does. Channel membership goes.
 */
registerErasureHook({
  name: 'vip',
  erase: async (tx, ids) => {
    const ended = await endVip(tx, ids.userId, 'revoked', new Date());
    if (ended) {
      const renewing = ended.recurring && !ended.renewalCanceled ? ended.recurringChargeId : null;
      await schedule(tx, { kind: 'vip.erased', key: `vip.erased:${ended.id}:${Date.now()}`, dueAt: new Date(), payload: { telegramId: ids.telegramId, chargeId: renewing } });
    }
    await tx`DELETE FROM channel_members WHERE user_id = ${ids.userId}`;
  },
  export: async (db, ids) => ({
    subscription: (await db`SELECT plan, status, started_at, expires_at, recurring, renewal_canceled FROM vip_subscriptions WHERE user_id = ${ids.userId}`)[0] ?? null,
    payments: await db`
      SELECT charge_id, plan, currency, amount, status, is_recurring, is_first_recurring, subscription_expiration_date,
             period_start, period_end, paid_at, refunded_at
        FROM vip_payments WHERE user_id = ${ids.userId} ORDER BY id`,
    channels: await db`SELECT chat_id, status, joined_at FROM channel_members WHERE user_id = ${ids.userId}`,
  }),
});
