/**
 * The process-wide conditions registry. Kinds live with the module that owns their meaning
 * (lib/<module>/conditions.ts exports a register function); this file is the one list of
 * contributors, so every place that validates or evaluates content — the bot, `content:import`,
 * the story linter, tests — sees the same kinds without modules importing each other's internals.
 * A module that adds kinds adds one line below.
 */
import { registerGamificationConditions } from '../gamification/conditions.js';
import { registerNarrativeConditions } from '../narrative/conditions.js';
import { ConditionRegistry } from './registry.js';

export * from './registry.js';

export const conditions = new ConditionRegistry();
registerNarrativeConditions(conditions);
registerGamificationConditions(conditions);

/** The zod schema of a condition (any registered kind or combinator), for content schemas. */
export const conditionSchema = conditions.schema;
