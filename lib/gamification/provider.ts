import { z } from 'zod';
import { lazy } from '../lazy.js';
import { registerErasureHook } from '../users/privacy.js';
import { stateProviders } from '../users/state.js';

const section = lazy(() => z.object({
  missions_completed: z.coerce.number(),
  achievements: z.coerce.number(),
  items: z.coerce.number(),
}));

/** The gamification section of /perfil: loaded only for /perfil and /exportar (no per-update work). */
stateProviders.register({
  key: 'gamification',
  title: '🎯 Misiones, logros y mochila',
  schema: section,
  load: async (db, userId) => {
    const [row] = await db`
      SELECT (SELECT count(*) FROM user_missions WHERE user_id = ${userId} AND status = 'completed') AS missions_completed,
             (SELECT count(*) FROM user_achievements WHERE user_id = ${userId} AND unlocked_at IS NOT NULL) AS achievements,
             (SELECT COALESCE(sum(quantity), 0) FROM user_inventory WHERE user_id = ${userId}) AS items`;
    return row;
  },
  render: (v) =>
    `Misiones cumplidas: <b>${v.missions_completed}</b> · Logros: <b>${v.achievements}</b> · Objetos: <b>${v.items}</b>\n/misiones · /logros · /mochila`,
});

/**
 * /borrar: progress, achievements, backpack and effects go with the account. Purchases stay in
 * item_moves (like the ledger, for accounting), pointing at the internal id whose personal data is gone.
 */
registerErasureHook({
  name: 'gamification',
  erase: async (tx, ids) => {
    for (const table of ['gamification_facts', 'user_missions', 'user_achievements', 'user_inventory', 'user_effects', 'referral_codes'])
      await tx`DELETE FROM ${tx(table)} WHERE user_id = ${ids.userId}`;
  },
  export: async (db, ids) => ({
    missions: await db`SELECT mission_key, period, status, progress, target, assigned_at, completed_at FROM user_missions WHERE user_id = ${ids.userId} ORDER BY assigned_at`,
    achievements: await db`SELECT achievement_key, progress, target, unlocked_at FROM user_achievements WHERE user_id = ${ids.userId} ORDER BY achievement_key`,
    inventory: await db`SELECT item_key, quantity, bought, acquired_at FROM user_inventory WHERE user_id = ${ids.userId} ORDER BY item_key`,
    item_moves: await db`SELECT item_key, kind, quantity, price, created_at FROM item_moves WHERE user_id = ${ids.userId} ORDER BY id`,
    // What the missions and achievements were computed from (one row per event and kind), and power-ups in force.
    facts: await db`SELECT kind, subject, amount, at FROM gamification_facts WHERE user_id = ${ids.userId} ORDER BY at, kind`,
    effects: await db`SELECT kind, multiplier, until FROM user_effects WHERE user_id = ${ids.userId} ORDER BY kind`,
  }),
});
