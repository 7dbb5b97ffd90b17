import { z } from 'zod';
import { lazy } from '../lazy.js';
import { defineCommand, registerCommand } from '../commands/index.js';
import { setChannelKind } from './channels.js';
import { cancelPost, createPost, movePost, postButton } from './posts.js';
import { endVip, extendVip, insertPayment, linkPayment, markRefunded, setRenewalCanceled } from './repository.js';

/**
 * VIP changes as commands (lib/commands): each has its action row (history, audit trail of admins'
 * actions) and an idempotency key from the update, written in one transaction with the effect.
 */

export const paymentParams = lazy(() => z.object({
  chargeId: z.string().min(1).max(256),
  /** The plan the signed payload names; null for a payload we never issued. */
  plan: z.string().max(32).nullable(),
  days: z.number().int().positive().max(3660),
  currency: z.string().max(8),
  amount: z.number().int().nonnegative(),
  payload: z.string().max(256),
  isRecurring: z.boolean(),
  isFirstRecurring: z.boolean(),
  /** Unix seconds (Telegram's subscription_expiration_date). */
  subscriptionExpiration: z.number().int().positive().nullable(),
  updateId: z.number().int().nullable(),
}));
export type PaymentParams = z.output<typeof paymentParams>;

export type PaymentResult =
  | { status: 'started' | 'extended'; subscriptionId: number; plan: string; expiresAt: string }
  | { status: 'unmatched' }
  | { status: 'duplicate' };

/** A successful_payment: the charge recorded once; access starts or extends only for an invoice we issued. */
export const vipPaymentCommand = registerCommand<PaymentParams, PaymentResult>({
  name: 'vip.payment',
  params: paymentParams,
  async execute({ tx, userId, now }, p) {
    const paymentId = await insertPayment(tx, {
      chargeId: p.chargeId,
      userId,
      plan: p.plan,
      currency: p.currency,
      amount: p.amount,
      payload: p.payload,
      status: p.plan ? 'credited' : 'unmatched',
      isRecurring: p.isRecurring,
      isFirstRecurring: p.isFirstRecurring,
      subscriptionExpiration: p.subscriptionExpiration ? new Date(p.subscriptionExpiration * 1000) : null,
      updateId: p.updateId,
      paidAt: now,
    });
    if (paymentId === null) return { status: 'duplicate' };
    if (!p.plan) return { status: 'unmatched' };
    const r = await extendVip(tx, {
      userId,
      plan: p.plan,
      days: p.days,
      now,
      telegramEnd: p.subscriptionExpiration ? new Date(p.subscriptionExpiration * 1000) : undefined,
      recurringChargeId: p.isRecurring ? p.chargeId : undefined,
    });
    await linkPayment(tx, paymentId, r.subscriptionId, r.start, r.end);
    return { status: r.started ? 'started' : 'extended', subscriptionId: r.subscriptionId, plan: p.plan, expiresAt: r.end.toISOString() };
  },
});

export const renewalParams = lazy(() => z.object({ canceled: z.boolean() }));
/** /vip "Cancelar renovación" / "Reactivar renovación" (after editUserStarSubscription succeeded). */
export const vipRenewalCommand = registerCommand<z.output<typeof renewalParams>, { expiresAt: string } | null>({
  name: 'vip.renewal',
  params: renewalParams,
  async execute({ tx, userId, now }, p) {
    const vip = await setRenewalCanceled(tx, userId, p.canceled, now);
    return vip ? { expiresAt: vip.expiresAt.toISOString() } : null;
  },
});

const reason = lazy(() => z.string().trim().min(3).max(200));

export const grantParams = lazy(() => z.object({ targetUserId: z.number().int().positive(), days: z.number().int().min(1).max(3660), reason }));
export const vipGrantCommand = registerCommand<z.output<typeof grantParams>, { expiresAt: string; started: boolean }>({
  name: 'admin.vip_grant',
  params: grantParams,
  async execute({ tx, now }, p) {
    const r = await extendVip(tx, { userId: p.targetUserId, plan: 'manual', days: p.days, now });
    return { expiresAt: r.end.toISOString(), started: r.started };
  },
});

export const revokeParams = lazy(() => z.object({ targetUserId: z.number().int().positive(), reason }));
export const vipRevokeCommand = registerCommand<z.output<typeof revokeParams>, { revoked: boolean }>({
  name: 'admin.vip_revoke',
  params: revokeParams,
  async execute({ tx, now }, p) {
    return { revoked: (await endVip(tx, p.targetUserId, 'revoked', now)) !== null };
  },
});

export const refundParams = lazy(() => z.object({ chargeId: z.string().min(1).max(256), targetUserId: z.number().int().positive(), reason }));
/** Recorded after refundStarPayment succeeded: the charge refunded, the access it bought ended. */
export const vipRefundCommand = registerCommand<z.output<typeof refundParams>, { refunded: boolean; accessEnded: boolean }>({
  name: 'admin.vip_refund',
  params: refundParams,
  async execute({ tx, now }, p) {
    const row = await markRefunded(tx, p.chargeId, p.reason, now);
    const ended = row ? await endVip(tx, p.targetUserId, 'refunded', now) : null;
    return { refunded: row !== null, accessEnded: ended !== null };
  },
});

export const channelKindParams = lazy(() => z.object({ chatId: z.number().int(), kind: z.enum(['free', 'vip']) }));
/** An admin says what a channel is for (audit trail: the admin's action). */
export const channelKindCommand = registerCommand<z.output<typeof channelKindParams>, { title: string | null; username: string | null; missing: string[] } | null>({
  name: 'admin.channel_kind',
  params: channelKindParams,
  async execute({ tx }, p) {
    const row = await setChannelKind(tx, p.chatId, p.kind);
    return row ? { title: row.title, username: row.username, missing: row.missing_rights } : null;
  },
});

const postDraftInput = lazy(() => z.object({
  chatId: z.number().int(),
  text: z.string().min(1).max(4096),
  mediaType: z.enum(['photo', 'video']).nullable(),
  mediaUrl: z.string().max(2048).nullable(),
  buttons: z.array(postButton).max(8),
  protect: z.boolean(),
  publishAt: z.iso.datetime().nullable(),
}));
/** /publicar: the post and its publishing job, as the admin's command. */
export const postCreateCommand = registerCommand<z.output<typeof postDraftInput>, { id: number }>({
  name: 'admin.post_create',
  params: postDraftInput,
  async execute({ tx, userId, now }, p) {
    const post = await createPost(tx, { ...p, publishAt: p.publishAt ? new Date(p.publishAt) : null }, userId, now);
    return { id: post.id };
  },
});
export const postMoveCommand = registerCommand<{ postId: number; publishAt: string }, boolean>({
  name: 'admin.post_move',
  params: lazy(() => z.object({ postId: z.number().int().positive(), publishAt: z.iso.datetime() })),
  execute: ({ tx }, p) => movePost(tx, p.postId, new Date(p.publishAt)),
});
export const postCancelCommand = registerCommand<{ postId: number }, boolean>({
  name: 'admin.post_cancel',
  params: lazy(() => z.object({ postId: z.number().int().positive() })),
  execute: ({ tx }, p) => cancelPost(tx, p.postId),
});
