import { z } from 'zod';
import { lazy } from '../lazy.js';
import type { ConditionRegistry } from '../conditions/registry.js';

/**
 * The condition kinds the story contributes to the registry (lib/conditions): progress, flags,
 * levels, VIP status and premium unlocks. Registered by lib/conditions/index.ts, the one list of
 * contributors, so content validation anywhere (bot, import, linter) knows every kind.
 * Pure: evaluators read only the ConditionState snapshot.
 */

const key = lazy(() => z.string().regex(/^[a-z0-9][a-z0-9_-]{0,47}$/));
const flag = lazy(() => z.string().regex(/^[a-z0-9_:.-]{1,48}$/));
/** Optional author-written Spanish explanation, for flags whose name would spoil the story. */
const hint = lazy(() => z.string().min(1).max(200).optional());

export function registerNarrativeConditions(r: ConditionRegistry): void {
  r.register({
    kind: 'fragment_completed',
    schema: lazy(() => z.strictObject({ kind: z.literal('fragment_completed'), fragment: key })),
    evaluate: (c, s) => s.completed.has(c.fragment),
    explain: (c, _s, scope) => {
      const title = scope.names?.fragment?.(c.fragment);
      return title ? `Primero completa «${title}».` : 'Primero tienes que avanzar más en la historia.';
    },
    explainNot: () => 'Ese camino se cerró por algo que ya viviste.',
    refs: (c) => ({ fragments: [c.fragment] }),
  });

  r.register({
    kind: 'flag_set',
    schema: lazy(() => z.strictObject({ kind: z.literal('flag_set'), flag, hint })),
    evaluate: (c, s) => s.flags.has(c.flag),
    explain: (c) => c.hint ?? 'Se abre con una decisión que aún no has tomado.',
    explainNot: (c) => c.hint ?? 'Una decisión que tomaste cerró este camino.',
    refs: (c) => ({ flags: [c.flag] }),
  });

  r.register({
    kind: 'flag_not_set',
    schema: lazy(() => z.strictObject({ kind: z.literal('flag_not_set'), flag, hint })),
    evaluate: (c, s) => !s.flags.has(c.flag),
    explain: (c) => c.hint ?? 'Una decisión que tomaste cerró este camino.',
    explainNot: (c) => c.hint ?? 'Se abre con una decisión que aún no has tomado.',
    refs: (c) => ({ flags: [c.flag] }),
  });

  r.register({
    kind: 'level_reached',
    schema: lazy(() => z.strictObject({ kind: z.literal('level_reached'), level: z.number().int().min(1).max(100) })),
    evaluate: (c, s) => s.level >= c.level,
    explain: (c, _s, scope) => {
      const title = scope.names?.level?.(c.level);
      return `Necesitas llegar al nivel ${c.level}${title ? ` («${title}»)` : ''}.`;
    },
    explainNot: (c) => `Solo antes de llegar al nivel ${c.level}.`,
    refs: (c) => ({ levels: [c.level] }),
  });

  r.register({
    kind: 'vip',
    schema: lazy(() => z.strictObject({ kind: z.literal('vip') })),
    evaluate: (_c, s) => s.vip,
    explain: () => 'Necesitas ser VIP: mira /vip.',
    explainNot: () => 'Solo para quien aún no es VIP.',
  });

  // A premium unlock: holds once the user has paid `price` for the guarded subject. Paying is the
  // engine's job (one idempotent spendBesitos after the user confirms); this only reads the record.
  r.register({
    kind: 'besitos_paid',
    schema: lazy(() => z.strictObject({ kind: z.literal('besitos_paid'), price: z.number().int().min(1).max(100_000) })),
    evaluate: (_c, s, scope) => s.paid.has(scope.subject),
    explain: (c, s) => `Cuesta ${c.price} besitos (tienes ${s.besitos}).`,
    explainNot: () => 'Ya lo desbloqueaste con besitos.',
    price: (c) => c.price,
  });
}
