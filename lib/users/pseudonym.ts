import { createHmac } from 'node:crypto';

/**
 * The abuse-prevention pseudonym of a person: a keyed hash (HMAC-SHA256 with PSEUDONYM_SECRET) of
 * their Telegram id. It survives /borrar on the records that limit per-person rewards (daily claims,
 * rate limits), so that erasing and coming back is recognised for those limits and nothing else:
 * without the server's key it can't be turned back into the Telegram id or matched to one.
 */
export function personPseudonym(secret: string, telegramId: number): string {
  // The webhook names the sender in its log line and the bot keys limits by it: one HMAC per person,
  // not one per use (a bounded memo, emptied when full).
  let memo = memos.get(secret);
  if (!memo) memos.set(secret, (memo = new Map()));
  let value = memo.get(telegramId);
  if (value === undefined) {
    value = createHmac('sha256', secret).update(`telegram:${telegramId}`).digest('hex').slice(0, 32);
    if (memo.size >= 10_000) memo.clear();
    memo.set(telegramId, value);
  }
  return value;
}
const memos = new Map<string, Map<number, string>>();
