-- One daily gift per person, however often they erase their data (/borrar) and come back.
-- person is the abuse-prevention pseudonym (lib/users/pseudonym.ts: HMAC of the Telegram id with a
-- server key). It is needed only while it can still limit a claim (today's), so the maintenance job
-- clears it from claims older than two days (lib/users/retention.ts).
ALTER TABLE daily_claims ADD COLUMN person text;
CREATE UNIQUE INDEX daily_claims_person_day ON daily_claims (person, day) WHERE person IS NOT NULL;
