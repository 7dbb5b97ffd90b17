import { z } from 'zod';
import { lazy } from '../lazy.js';
import type { ConditionRegistry } from '../conditions/registry.js';

/**
 * The condition kinds gamification contributes (registered by lib/conditions/index.ts): owning an
 * item and having unlocked an achievement. Pure: they read the ConditionState snapshot, whose `items`
 * and `achievements` come from `conditionSnapshot` (lib/gamification/index.ts).
 */

const key = lazy(() => z.string().regex(/^[a-z0-9][a-z0-9_-]{0,47}$/));

export function registerGamificationConditions(r: ConditionRegistry): void {
  r.register({
    kind: 'item_owned',
    schema: lazy(() => z.strictObject({ kind: z.literal('item_owned'), item: key, quantity: z.number().int().min(1).max(1000).default(1) })),
    evaluate: (c, s) => (s.items.get(c.item) ?? 0) >= c.quantity,
    explain: (c, _s, scope) => {
      const name = scope.names?.item?.(c.item);
      return name ? `Necesitas «${name}»${c.quantity > 1 ? ` (×${c.quantity})` : ''} en tu /mochila.` : 'Necesitas un objeto de la /tienda que aún no tienes.';
    },
    explainNot: () => 'Este camino es para quien no lleva ese objeto.',
    refs: (c) => ({ items: [c.item] }),
  });

  r.register({
    kind: 'achievement_unlocked',
    schema: lazy(() => z.strictObject({ kind: z.literal('achievement_unlocked'), achievement: key })),
    evaluate: (c, s) => s.achievements.has(c.achievement),
    explain: (c, _s, scope) => {
      const name = scope.names?.achievement?.(c.achievement);
      return name ? `Primero consigue el logro «${name}» (/logros).` : 'Primero consigue un logro que aún no tienes (/logros).';
    },
    explainNot: () => 'Este camino es para quien aún no tiene ese logro.',
    refs: (c) => ({ achievements: [c.achievement] }),
  });
}
