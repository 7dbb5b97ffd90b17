/** Telegram Update JSON as Telegram sends it, for tests and benchmarks (no test-runner imports here). */

let updateSeq = Math.floor(Math.random() * 1e9);
export const nextUpdateId = () => ++updateSeq;

/** A private-chat text message update, as Telegram sends it. */
export function textUpdate(userId: number, text: string, opts: { updateId?: number; firstName?: string; username?: string } = {}) {
  const entities = text.startsWith('/') ? [{ offset: 0, length: text.split(' ')[0]!.length, type: 'bot_command' }] : undefined;
  return {
    update_id: opts.updateId ?? nextUpdateId(),
    message: {
      message_id: Math.floor(Math.random() * 1e6),
      from: { id: userId, is_bot: false, first_name: opts.firstName ?? 'Ana', username: opts.username, language_code: 'es' },
      chat: { id: userId, first_name: opts.firstName ?? 'Ana', username: opts.username, type: 'private' },
      date: Math.floor(Date.now() / 1000),
      text,
      ...(entities ? { entities } : {}),
    },
  };
}

export function callbackUpdate(userId: number, data: string, opts: { updateId?: number; messageId?: number } = {}) {
  return {
    update_id: opts.updateId ?? nextUpdateId(),
    callback_query: {
      id: String(Math.floor(Math.random() * 1e15)),
      from: { id: userId, is_bot: false, first_name: 'Ana', language_code: 'es' },
      message: {
        message_id: opts.messageId ?? 1,
        from: { id: 123456, is_bot: true, first_name: 'DianaBot', username: 'DianaTestBot' },
        chat: { id: userId, first_name: 'Ana', type: 'private' },
        date: Math.floor(Date.now() / 1000),
        text: '…',
      },
      chat_instance: '-1234567890',
      data,
    },
  };
}

const person = (userId: number) => ({ id: userId, is_bot: false, first_name: 'Ana', language_code: 'es' });

/** A pre_checkout_query for a Stars invoice (Bot API PreCheckoutQuery). */
export function preCheckoutUpdate(userId: number, payload: string, amount: number, opts: { updateId?: number; currency?: string } = {}) {
  return {
    update_id: opts.updateId ?? nextUpdateId(),
    pre_checkout_query: { id: `pcq${Math.floor(Math.random() * 1e12)}`, from: person(userId), currency: opts.currency ?? 'XTR', total_amount: amount, invoice_payload: payload },
  };
}

/** A private message carrying successful_payment (Bot API SuccessfulPayment; subscription fields since 8.0). */
export function successfulPaymentUpdate(
  userId: number,
  p: { payload: string; amount: number; chargeId: string; expiration?: number; recurring?: boolean; firstRecurring?: boolean },
  opts: { updateId?: number } = {},
) {
  return {
    update_id: opts.updateId ?? nextUpdateId(),
    message: {
      message_id: Math.floor(Math.random() * 1e6),
      from: person(userId),
      chat: { id: userId, first_name: 'Ana', type: 'private' },
      date: Math.floor(Date.now() / 1000),
      successful_payment: {
        currency: 'XTR',
        total_amount: p.amount,
        invoice_payload: p.payload,
        telegram_payment_charge_id: p.chargeId,
        provider_payment_charge_id: '',
        ...(p.expiration ? { subscription_expiration_date: p.expiration } : {}),
        ...(p.recurring ? { is_recurring: true } : {}),
        ...(p.firstRecurring ? { is_first_recurring: true } : {}),
      },
    },
  };
}

/** Update.subscription (Bot API 10.2, BotSubscriptionUpdated). */
export function subscriptionUpdate(userId: number, payload: string, state: 'canceled' | 'active' | 'failed', opts: { updateId?: number } = {}) {
  return { update_id: opts.updateId ?? nextUpdateId(), subscription: { user: person(userId), invoice_payload: payload, state } };
}
