-- The abuse-prevention pseudonym (lib/users/pseudonym.ts: HMAC of the Telegram id with a server key, no
-- personal data without that key) on the account itself, written by the webhook's state load. It stays
-- on the row after /borrar, so that what the ledger and the modules limit per person — caps of every
-- source (besitos_caps), first-time rewards (person_rewards) — is found from the internal user id alone,
-- also by callers that never saw the update (bus subscribers). Pruned from erased rows by the
-- maintenance job after the period /privacidad states (lib/users/retention.ts).
ALTER TABLE users ADD COLUMN person text;
CREATE INDEX users_person ON users (person) WHERE person IS NOT NULL;
-- Accounts that claimed a daily gift lately already had their pseudonym written there.
UPDATE users u SET person = d.person
  FROM (SELECT DISTINCT ON (user_id) user_id, person FROM daily_claims WHERE person IS NOT NULL ORDER BY user_id, day DESC) d
 WHERE d.user_id = u.id AND u.person IS NULL;
