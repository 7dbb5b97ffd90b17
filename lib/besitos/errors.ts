/** One class per failure kind; the bot maps each to a Spanish message. */
export class LedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class InvalidAmount extends LedgerError {}
export class InsufficientFunds extends LedgerError {
  constructor(readonly needed: number, readonly available: number | null) {
    super(`insufficient funds: needed ${needed}, available ${available ?? 'unknown'}`);
  }
}
export class UnknownAccount extends LedgerError {
  constructor(readonly userId: number) {
    super(`no besitos account for user ${userId}`);
  }
}
export class InvalidTransfer extends LedgerError {}
export class IdempotencyConflict extends LedgerError {}
export class TransactionNotFound extends LedgerError {}
export class AlreadyReversed extends LedgerError {}
export class ReversalNotPossible extends LedgerError {}
export class HoldNotPending extends LedgerError {}
/**
 * A grant over its source's cap (lib/besitos/policy.ts): refused, nothing written. `unit` says which
 * limit (besitos or number of grants), `used` what the period had already, `resetsAt` when it opens again.
 */
export class CapReached extends LedgerError {
  constructor(
    readonly source: string,
    readonly period: 'day' | 'week',
    readonly unit: 'besitos' | 'grants',
    readonly limit: number,
    readonly used: number,
    readonly resetsAt: Date,
  ) {
    super(`cap reached: ${source} allows ${limit} ${unit} per ${period} (used ${used})`);
  }
}
/**
 * A first-time reward (MoveParams.firstTime, lib/besitos/first-time.ts) another account of the same
 * person was already given: refused, nothing written. `alreadyRewardedText()` says it in Spanish.
 */
export class AlreadyRewarded extends LedgerError {
  constructor(readonly reward: string) {
    super(`first-time reward ${reward} was already given to this person`);
  }
}
/**
 * The caller's precondition (MoveParams.guard) did not hold when the movement's statement ran:
 * nothing was written. Not a user-facing failure: the caller takes its general path instead.
 */
export class GuardRefused extends LedgerError {}
