import { z } from 'zod';
import { grantDailyGift, grantDailyGiftAtOnce, type DailyDeps, type DailyResult, type LatestClaim } from '../besitos/daily.js';
import { defineCommand, type ActionRow } from './index.js';

/**
 * /daily as a command: the grant and its action row commit together. Built per bot because the gift
 * depends on the bot's clock, zone and amount and on the claiming person; not undoable, so it needs no registry entry.
 * With `latest` (the claim the update's state load read), a first try in one statement (issue 18:
 * grantDailyGiftAtOnce); the transaction protocol when that does not apply.
 */
export function dailyCommand(deps: Omit<DailyDeps, 'db'>, person: string | null = null, latest: LatestClaim | null = null) {
  return defineCommand<Record<string, never>, DailyResult>({
    name: 'daily',
    params: z.object({}).strict() as unknown as z.ZodType<Record<string, never>>,
    // The person's pseudonym is not a param: params are the action's details, kept in its history.
    execute: ({ tx, userId, idempotencyKey }) => grantDailyGift({ ...deps, db: tx }, userId, idempotencyKey, person),
    oneStatement: latest
      ? async (c) => {
          const once = await grantDailyGiftAtOnce({ ...deps, db: c.db }, c.userId, c.idempotencyKey, person, latest, {
            guard: c.fresh,
            alongside: (result) => c.actionRow(result),
          });
          return once && { result: once.result, action: once.alongside as unknown as ActionRow };
        }
      : undefined,
  });
}
