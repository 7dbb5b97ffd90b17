-- /borrar wins over the updates that were sent before it: the erasure records the person's
-- pseudonym and the update_id of its confirmation, and an update of that person with a lower
-- update_id (sent earlier, handled later: webhook deliveries are concurrent) can no longer register
-- the erased person again (lib/users/state.ts). Kept one day (Telegram stops redelivering after
-- 24 h), then pruned by the maintenance job (lib/users/retention.ts).
CREATE TABLE erasures (
  person     text PRIMARY KEY,
  update_id  bigint NOT NULL,
  erased_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasures_age ON erasures (erased_at);
