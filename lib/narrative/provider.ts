import { z } from 'zod';
import { lazy } from '../lazy.js';
import type { Queryable } from '../db/client.js';
import { registerErasureHook } from '../users/privacy.js';
import { stateProviders, type StateProviders } from '../users/state.js';
import { eraseNarrative, toProgress, type TriviaRow } from './repository.js';

const sectionSchema = lazy(() => z
  .object({
    current: z.string().nullable(),
    level: z.number(),
    completed: z.number(),
    secrets: z.number(),
    levelsCompleted: z.array(z.number()),
    triviaAnswered: z.number(),
    triviaCorrect: z.number(),
    progress: z.unknown(),
    trivia: z.array(z.unknown()),
  })
  .nullable());
type Section = z.infer<typeof sectionSchema>;

/**
 * The story section of the user's state: lazy (only /perfil and /exportar read it, so the per-update
 * state load stays as it is), and one statement for both tables.
 */
async function load(db: Queryable, userId: number): Promise<Section> {
  const [row] = await db<{ progress: Record<string, unknown> | null; trivia: TriviaRow[] | null }[]>`
    SELECT (SELECT to_jsonb(p) FROM user_narrative_progress p WHERE p.user_id = ${userId}) AS progress,
           (SELECT jsonb_agg(to_jsonb(t) - 'user_id' ORDER BY t.asked_at) FROM narrative_trivia_answers t WHERE t.user_id = ${userId}) AS trivia`;
  const progress = row?.progress ? toProgress(row.progress as never) : null;
  const trivia = row?.trivia ?? [];
  if (!progress && trivia.length === 0) return null;
  const answered = trivia.filter((t) => t.answered_at);
  return {
    current: progress?.current ?? null,
    level: progress?.level ?? 0,
    completed: progress?.completed.length ?? 0,
    secrets: progress?.secrets.length ?? 0,
    levelsCompleted: progress?.levelsCompleted ?? [],
    triviaAnswered: answered.length,
    triviaCorrect: answered.filter((t) => t.correct && !t.late).length,
    progress,
    trivia,
  };
}

function render(s: NonNullable<Section>): string | null {
  const lines = [`Nivel ${s.level} · ${s.completed} ${s.completed === 1 ? 'fragmento completado' : 'fragmentos completados'}`];
  if (s.secrets) lines.push(`🔑 ${s.secrets} ${s.secrets === 1 ? 'secreto descubierto' : 'secretos descubiertos'}`);
  if (s.triviaAnswered) lines.push(`❓ Trivia: ${s.triviaCorrect} de ${s.triviaAnswered} acertadas`);
  return lines.join('\n');
}

let registered = false;

/** Wires the story into /perfil, /exportar (a provider) and /borrar (an erasure hook). Called by lib/app.ts. */
export function registerNarrativeProvider(providers: StateProviders = stateProviders): void {
  if (registered && providers === stateProviders) return;
  if (providers === stateProviders) registered = true;
  providers.register<Section>({ key: 'historia', title: '📖 Historia', schema: sectionSchema, load, render: (v) => (v ? render(v) : null) });
  registerErasureHook({ name: 'narrative', erase: (tx, ids) => eraseNarrative(tx, ids.userId) });
}
