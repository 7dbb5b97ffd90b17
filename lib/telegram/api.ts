import type {
  ApiMethods,
  BotSubscriptionUpdated,
  ChatJoinRequest,
  ChatMemberUpdated,
  Opts,
  PreCheckoutQuery,
  RefundedPayment,
  SuccessfulPayment,
  Update,
} from '@grammyjs/types';
import type { Context, Telegram } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../lazy.js';

/**
 * One typed layer over the Bot API newer than telegraf 4.16.3's types (Bot API 7.1): Stars
 * subscriptions (8.0), refunds, Update.subscription (10.2) … The types come from @grammyjs/types,
 * which follows the Bot API; telegraf's runtime passes any method and any update, so the only cast
 * between the two type worlds is here.
 */
type Methods = ApiMethods<never>;
export type MethodName = keyof Methods;
export type Params<M extends MethodName> = Opts<never>[M];
export type Result<M extends MethodName> = Awaited<ReturnType<Methods[M]>>;

/** Calls a Bot API method with the current parameters and result types (through telegraf's client and its retries). */
export function callApi<M extends MethodName>(telegram: Telegram, method: M, params: Params<M>): Promise<Result<M>> {
  const untyped = telegram.callApi as unknown as (method: string, payload: unknown) => Promise<Result<M>>;
  return untyped.call(telegram, method, params);
}

/** The update as the current Bot API defines it. */
export function currentUpdate(ctx: Context): Update {
  return ctx.update as unknown as Update;
}

// The fields read from the network are validated; each schema is checked against the Bot API type
// (a field renamed upstream breaks the build here, not a payment at run time).
const user = lazy(() => z.object({ id: z.number().int(), is_bot: z.boolean(), first_name: z.string() }).loose());

export const successfulPaymentSchema = lazy(() => z
  .object({
    currency: z.string(),
    total_amount: z.number().int().nonnegative(),
    invoice_payload: z.string(),
    telegram_payment_charge_id: z.string().min(1).max(256),
    provider_payment_charge_id: z.string(),
    subscription_expiration_date: z.number().int().positive().optional(),
    is_recurring: z.literal(true).optional(),
    is_first_recurring: z.literal(true).optional(),
  })
  .loose() satisfies z.ZodType<SuccessfulPayment>);

export const refundedPaymentSchema = lazy(() => z
  .object({
    currency: z.literal('XTR'),
    total_amount: z.number().int().nonnegative(),
    invoice_payload: z.string(),
    telegram_payment_charge_id: z.string().min(1).max(256),
    provider_payment_charge_id: z.string().optional(),
  })
  .loose() satisfies z.ZodType<RefundedPayment>);

export const preCheckoutQuerySchema = lazy(() => z
  .object({
    id: z.string(),
    from: user,
    currency: z.string(),
    total_amount: z.number().int().nonnegative(),
    invoice_payload: z.string(),
  })
  .loose() satisfies z.ZodType<Omit<PreCheckoutQuery, 'from'>>);

export const subscriptionUpdateSchema = lazy(() => z
  .object({
    user,
    invoice_payload: z.string(),
    state: z.enum(['canceled', 'active', 'failed']),
  })
  .loose() satisfies z.ZodType<Omit<BotSubscriptionUpdated, 'user'>>);

export type SuccessfulPaymentData = z.output<typeof successfulPaymentSchema>;
export type RefundedPaymentData = z.output<typeof refundedPaymentSchema>;
export type SubscriptionUpdate = z.output<typeof subscriptionUpdateSchema>;
export type { ChatJoinRequest, ChatMemberUpdated, Update };

/** The message's successful_payment, validated, or null. */
export function successfulPaymentOf(ctx: Context): SuccessfulPaymentData | null {
  const raw = currentUpdate(ctx).message?.successful_payment;
  return raw ? successfulPaymentSchema.parse(raw) : null;
}

export function refundedPaymentOf(ctx: Context): RefundedPaymentData | null {
  const raw = currentUpdate(ctx).message?.refunded_payment;
  return raw ? refundedPaymentSchema.parse(raw) : null;
}

export function subscriptionUpdateOf(ctx: Context): SubscriptionUpdate | null {
  const raw = currentUpdate(ctx).subscription;
  return raw ? subscriptionUpdateSchema.parse(raw) : null;
}
