import { z } from 'zod';
import { grantDailyGift, type DailyDeps, type DailyResult } from '../besitos/daily.js';
import { defineCommand } from './index.js';

/**
 * /daily as a command: the grant and its action row commit together. Built per bot because the gift
 * depends on the bot's clock, zone and amount and on the claiming person; not undoable, so it needs no registry entry.
 */
export function dailyCommand(deps: Omit<DailyDeps, 'db'>, person: string | null = null) {
  return defineCommand<Record<string, never>, DailyResult>({
    name: 'daily',
    params: z.object({}).strict() as unknown as z.ZodType<Record<string, never>>,
    // The person's pseudonym is not a param: params are the action's details, kept in its history.
    execute: ({ tx, userId, idempotencyKey }) => grantDailyGift({ ...deps, db: tx }, userId, idempotencyKey, person),
  });
}
