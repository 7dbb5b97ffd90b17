-- First-time rewards once per person (lib/besitos/first-time.ts): an achievement, a mission of a period,
-- a story reward, a trivia question, a reaction to a post are paid to a person once, whatever account
-- they use — /borrar and coming back is the same person (users.person, sql/190). One row per person
-- and reward key, written in the payment's transaction (the ledger's grant statement); a later account of
-- the same person finds it and is not paid. No personal data: the pseudonym and an internal account id.
-- Pruned with the pseudonym (lib/users/retention.ts) once no account, live or recently erased, holds it.
CREATE TABLE person_rewards (
  person   text NOT NULL,
  reward   text NOT NULL,
  user_id  bigint NOT NULL,
  paid_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (person, reward)
);
