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
