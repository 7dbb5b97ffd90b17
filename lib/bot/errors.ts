import { capReachedText } from '../besitos/policy.js';
import {
  CapReached,
  InsufficientFunds,
  InvalidAmount,
  LedgerError,
  UnknownAccount,
} from '../besitos/errors.js';
import type { BotContext } from './context.js';

export class Forbidden extends Error {
  constructor() {
    super('forbidden');
    this.name = 'Forbidden';
  }
}

/** Maps a domain error to a Spanish message; returns null for errors that are not the user's. */
export function userMessageFor(ctx: BotContext, err: unknown): string | null {
  if (err instanceof CapReached) return capReachedText(err, ctx.deps.settings.timeZone, ctx.deps.clock());
  if (err instanceof InsufficientFunds) return ctx.t.insufficientFunds(err.needed, err.available);
  if (err instanceof InvalidAmount) return ctx.t.invalidAmount();
  if (err instanceof Forbidden) return ctx.t.forbidden();
  if (err instanceof UnknownAccount) return ctx.t.accountGone();
  if (err instanceof LedgerError) return ctx.t.genericError();
  return null;
}
