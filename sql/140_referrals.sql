-- Referrals (lib/gamification/referrals.ts).
-- A referral whose reward can no longer be paid (the referrer or the referee erased their data first).
ALTER TABLE referrals DROP CONSTRAINT IF EXISTS referrals_status_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_status_check CHECK (status IN ('pending', 'rewarded', 'capped', 'lapsed'));

-- People who had an account and erased it (/borrar), by abuse-prevention pseudonym (lib/users/pseudonym.ts:
-- a keyed hash of the Telegram id, no personal data). Someone coming back is not "new" for a referral, so
-- erasing and re-registering through a friend's link earns nothing. Kept as long as referrals are paid.
CREATE TABLE referral_known_persons (
  person     text PRIMARY KEY,
  erased_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO referral_known_persons (person, erased_at) SELECT person, erased_at FROM erasures ON CONFLICT DO NOTHING;
