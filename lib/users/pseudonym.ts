import { createHmac } from 'node:crypto';

/**
 * The abuse-prevention pseudonym of a person: a keyed hash (HMAC-SHA256 with PSEUDONYM_SECRET) of
 * their Telegram id. It survives /borrar on the records that limit per-person rewards (daily claims,
 * rate limits), so that erasing and coming back is recognised for those limits and nothing else:
 * without the server's key it can't be turned back into the Telegram id or matched to one.
 */
export function personPseudonym(secret: string, telegramId: number): string {
  return createHmac('sha256', secret).update(`telegram:${telegramId}`).digest('hex').slice(0, 32);
}
