import { z } from 'zod';
import { lazy } from '../lazy.js';
import { registerErasureHook } from '../users/privacy.js';
import { stateProviders, type ProfileSection } from '../users/state.js';
import { escapeHtml } from './notify.js';
import { placesOf, type Places } from './ranking.js';
import { rankingName } from './rules-ranking.js';

const section = lazy(() => {
  const place = z.object({ position: z.number(), score: z.number() }).nullable();
  return z.object({
    missions_completed: z.coerce.number(),
    missions_active: z.coerce.number(),
    achievements: z.coerce.number(),
    achievements_on_the_way: z.coerce.number(),
    items: z.coerce.number(),
    item_kinds: z.coerce.number(),
    effects: z.coerce.number(),
    first_name: z.string().nullable(),
    anonymous: z.boolean(),
    /** Null: not asked (/exportar) or the key-value store is unavailable. */
    places: z.object({ week: place, all: place }).nullable(),
  });
});
type Section = z.output<typeof section>;

const n = (v: number) => v.toLocaleString('es-MX');

const placeLine = (label: string, p: Places['week']) =>
  `${label}: ${p ? `puesto <b>${n(p.position)}</b> con <b>${n(p.score)}</b> besitos` : 'aún sin puesto (gana besitos para entrar)'}`;

function sections(v: Section): ProfileSection[] {
  return [
    {
      title: '🎯 Misiones',
      body: `Cumplidas: <b>${n(v.missions_completed)}</b> · en curso: <b>${n(v.missions_active)}</b>\nMíralas en /misiones.`,
    },
    {
      title: '🏅 Logros',
      body: `Desbloqueados: <b>${n(v.achievements)}</b>${v.achievements_on_the_way ? ` · en camino: ${n(v.achievements_on_the_way)}` : ''}\nMíralos en /logros.`,
    },
    {
      title: '🎒 Mochila',
      body:
        v.items === 0
          ? 'Tu mochila está vacía: mira la /tienda.'
          : `Objetos: <b>${n(v.items)}</b> (${n(v.item_kinds)} ${v.item_kinds === 1 ? 'tipo' : 'tipos'})` +
            `${v.effects ? ` · potenciadores activos: <b>${n(v.effects)}</b>` : ''}\nÁbrela con /mochila · más en /tienda.`,
    },
    {
      title: '🏆 Ranking',
      body: v.places
        ? `${placeLine('Esta semana', v.places.week)}\n${placeLine('De siempre', v.places.all)}\n` +
          `Apareces como <b>${escapeHtml(rankingName(v.first_name, v.anonymous))}</b> · /ranking`
        : 'El marcador no está disponible ahora mismo: míralo en /ranking.',
    },
  ];
}

/**
 * The gamification sections of /perfil (missions, achievements, backpack, ranking), loaded only for
 * /perfil and /exportar (no per-update work): the counts and the ranking choice in one statement, the
 * places in one key-value command sent at the same time.
 */
stateProviders.register({
  key: 'gamification',
  title: '🎯 Misiones, logros y mochila',
  schema: section,
  load: async (db, userId, ctx) => {
    const now = ctx?.now ?? new Date();
    const [[row], places] = await Promise.all([
      db`
        SELECT (SELECT count(*) FROM user_missions WHERE user_id = ${userId} AND status = 'completed') AS missions_completed,
               (SELECT count(*) FROM user_missions WHERE user_id = ${userId} AND status = 'active' AND progress > 0
                   AND (expires_at IS NULL OR expires_at > ${now})) AS missions_active,
               (SELECT count(*) FROM user_achievements WHERE user_id = ${userId} AND unlocked_at IS NOT NULL) AS achievements,
               (SELECT count(*) FROM user_achievements WHERE user_id = ${userId} AND unlocked_at IS NULL AND progress > 0) AS achievements_on_the_way,
               (SELECT COALESCE(sum(quantity), 0) FROM user_inventory WHERE user_id = ${userId}) AS items,
               (SELECT count(*) FROM user_inventory WHERE user_id = ${userId} AND quantity > 0) AS item_kinds,
               (SELECT count(*) FROM user_effects WHERE user_id = ${userId} AND until > ${now}) AS effects,
               u.first_name, COALESCE((u.metadata->>'ranking_anonymous')::boolean, false) AS anonymous
          FROM users u WHERE u.id = ${userId}`,
      ctx?.kv ? placesOf(db, ctx.kv, { userId, now, timeZone: ctx.timeZone }) : Promise.resolve(null),
    ]);
    return row ? { ...row, places } : null;
  },
  sections,
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
