/**
 * Pure referral rules. A referral is recorded when a brand-new user starts the bot from
 * t.me/<bot>?start=ref_<code>, and rewarded once, to both, when that user has really played
 * (completed a fragment or claimed /daily), within the referrer's daily cap.
 */

export const REFERRAL_PREFIX = 'ref_';
const CODE = /^[a-z0-9]{8}$/;

/** The referral code in a /start payload, or null. */
export function referralCodeFromPayload(payload: string | undefined | null): string | null {
  if (!payload || !payload.startsWith(REFERRAL_PREFIX)) return null;
  const code = payload.slice(REFERRAL_PREFIX.length).toLowerCase();
  return CODE.test(code) ? code : null;
}

export function isReferralCode(code: string): boolean {
  return CODE.test(code);
}

export function referralLink(botUsername: string, code: string): string {
  return `https://t.me/${botUsername}?start=${REFERRAL_PREFIX}${code}`;
}

export type ReferralRefusal = 'unknown_code' | 'self' | 'not_new' | 'already_referred' | 'cycle';

export interface ReferralAttempt {
  refereeId: number;
  /** The user the code belongs to (null: no such code, or the owner erased their data). */
  referrerId: number | null;
  /** The referee's account was created by this very update. */
  refereeIsNew: boolean;
  refereeAlreadyReferred: boolean;
  /** Who referred the referrer, who referred them … (to refuse rings). */
  referrerAncestors: readonly number[];
}

export type ReferralDecision = { ok: true } | { ok: false; reason: ReferralRefusal };

export function decideReferral(a: ReferralAttempt): ReferralDecision {
  if (a.referrerId === null) return { ok: false, reason: 'unknown_code' };
  if (a.referrerId === a.refereeId) return { ok: false, reason: 'self' };
  if (a.refereeAlreadyReferred) return { ok: false, reason: 'already_referred' };
  if (a.referrerAncestors.includes(a.refereeId)) return { ok: false, reason: 'cycle' };
  if (!a.refereeIsNew) return { ok: false, reason: 'not_new' };
  return { ok: true };
}

/** Rewards once the referee has played: both rewarded, unless the referrer reached today's cap (then neither). */
export interface ReferralRewards {
  referrer: number;
  referee: number;
}

export const DEFAULT_REFERRAL_REWARDS: ReferralRewards = { referrer: 50, referee: 25 };
export const DEFAULT_REFERRAL_DAILY_CAP = 5;

export type QualifyDecision = { reward: true; rewards: ReferralRewards } | { reward: false; reason: 'not_pending' | 'capped' };

export function decideQualify(
  status: 'pending' | 'rewarded' | 'capped' | 'refused',
  referrerRewardedToday: number,
  cap = DEFAULT_REFERRAL_DAILY_CAP,
  rewards = DEFAULT_REFERRAL_REWARDS,
): QualifyDecision {
  if (status !== 'pending') return { reward: false, reason: 'not_pending' };
  if (referrerRewardedToday >= cap) return { reward: false, reason: 'capped' };
  return { reward: true, rewards };
}

/** The facts that show a referee has played. */
export const PLAYED_FACTS = ['fragment_completed', 'daily_claimed'] as const;
