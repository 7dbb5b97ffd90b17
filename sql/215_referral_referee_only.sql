-- A referral whose referrer erased their data before the referee played (lib/gamification/referrals.ts):
-- the referee is still paid their own reward and told why the inviter's could not be paid; nothing goes
-- to the erased account. Until now such a referral lapsed at the referrer's /borrar and the referee was
-- paid nothing and told nothing.
ALTER TABLE referrals DROP CONSTRAINT IF EXISTS referrals_status_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_status_check CHECK (status IN ('pending', 'rewarded', 'capped', 'lapsed', 'referee_only'));
