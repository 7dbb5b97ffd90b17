import { z } from 'zod';
import { lazy } from '../lazy.js';
import { MAX_AMOUNT, reverseTransaction, transferBesitos } from '../besitos/ledger.js';
import { registerCommand } from './index.js';

export const giftParams = lazy(() => z.object({
  toUserId: z.number().int().positive(),
  amount: z.number().int().min(1).max(MAX_AMOUNT),
}));
export type GiftParams = z.infer<typeof giftParams>;

export interface GiftResult {
  debitId: number;
  creditId: number;
  senderBalance: number;
  receiverBalance: number;
}

export interface GiftUndoResult {
  reversalIds: number[];
}

/** Default grace window of the "Deshacer" button. */
export const GIFT_UNDO_SECONDS = 60;

/**
 * /regalar: an atomic transfer of besitos to another user. Undo = a compensating reversal of both
 * legs, refused by the ledger when the receiver no longer has the besitos.
 */
export function giftCommand(undoWindowSeconds = GIFT_UNDO_SECONDS) {
  return registerCommand<GiftParams, GiftResult>({
    name: 'gift',
    params: giftParams,
    async execute({ tx, userId, idempotencyKey }, p) {
      const t = await transferBesitos(tx, {
        fromUserId: userId,
        toUserId: p.toUserId,
        amount: p.amount,
        source: 'gift',
        idempotencyKey: `cmd:${idempotencyKey}`,
      });
      return { debitId: t.debit.id, creditId: t.credit.id, senderBalance: t.debit.balanceAfter, receiverBalance: t.credit.balanceAfter };
    },
    undo: {
      windowSeconds: undoWindowSeconds,
      async run({ tx, idempotencyKey, original }) {
        const r = await reverseTransaction(tx, { transactionId: original.result.debitId, idempotencyKey, reason: 'gift_undo' });
        return { reversalIds: r.reversals.map((x) => x.id) } satisfies GiftUndoResult;
      },
    },
  });
}
