/**
 * Update kinds the bot asks Telegram for. message_reaction and chat_member are only sent when listed
 * explicitly; the later modules (reactions, channels, Stars payments) need them.
 */
export const ALLOWED_UPDATES = [
  'message',
  'edited_message',
  'callback_query',
  'channel_post',
  'message_reaction',
  'message_reaction_count',
  'my_chat_member',
  'chat_member',
  'chat_join_request',
  'pre_checkout_query',
  // Stars subscription changes (Bot API 10.2): canceled / re-enabled / renewal failed.
  'subscription',
  'poll_answer',
] as const;
