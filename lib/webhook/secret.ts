import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time comparison of the X-Telegram-Bot-Api-Secret-Token header (hashing equalises lengths). */
export function secretMatches(expected: string, received: unknown): boolean {
  if (typeof received !== 'string' || received.length === 0 || received.length > 256) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(received).digest();
  return timingSafeEqual(a, b);
}
