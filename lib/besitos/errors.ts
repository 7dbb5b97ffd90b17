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
