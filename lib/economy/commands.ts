import { z } from 'zod';
import { lazy } from '../lazy.js';
import { rollbackSourceWindow, rollbackTransaction, type RollbackOutcome } from '../besitos/rollback.js';
import { defineCommand, registerCommand } from '../commands/index.js';
import { resolveFlag } from './repository.js';

/**
 * Admins' economy actions as commands (lib/commands): the action row under the admin's id is the
 * audit trail (who, when, why, what came of it) and the update's key makes a redelivery a replay.
 */

const reason = lazy(() => z.string().trim().min(3).max(300));
export const rollbackParams = lazy(() => z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('transaction'), transactionId: z.number().int().positive(), reason }),
  z.object({
    mode: z.literal('window'),
    source: z.string().regex(/^[a-z][a-z0-9_.:-]{0,63}$/),
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    reason,
  }),
]));
export type RollbackParams = z.output<typeof rollbackParams>;

/** Kept in the action's result: totals and the first users (the full list is in economy_rollback_items). */
export type RollbackResult = RollbackOutcome & { type?: string; usersTotal: number };

const MAX_USERS_IN_RESULT = 50;

export const economyRollbackCommand = registerCommand<RollbackParams, RollbackResult>({
  name: 'economy.rollback',
  params: rollbackParams,
  async execute({ tx, actionId }, p) {
    const out =
      p.mode === 'transaction'
        ? await rollbackTransaction(tx, { actionId, reason: p.reason, transactionId: p.transactionId })
        : await rollbackSourceWindow(tx, { actionId, reason: p.reason, source: p.source, from: new Date(p.from), to: new Date(p.to) });
    return { ...out, usersTotal: out.users.length, users: out.users.slice(0, MAX_USERS_IN_RESULT) };
  },
});

export const flagResolveCommand = registerCommand<{ flagId: number; status: 'dismissed' | 'reverted' }, { closed: boolean }>({
  name: 'economy.flag_close',
  params: lazy(() => z.object({ flagId: z.number().int().positive(), status: z.enum(['dismissed', 'reverted']) })),
  async execute({ tx, userId }, p) {
    return { closed: await resolveFlag(tx, p.flagId, p.status, userId) };
  },
});
