-- User state: action history (command pattern, undo) and privacy support.

-- Every state-changing user action, recorded in the same transaction as its effect.
-- idempotency_key is the command's key (derived from the Telegram update); failed attempts are kept
-- for the user's history with a NULL key, so a later retry of the same request can still succeed.
-- params/result are the "action details" that /borrar clears; they hold internal ids, never
-- Telegram ids or names.
CREATE TABLE actions (
  id               bigserial PRIMARY KEY,
  user_id          bigint NOT NULL REFERENCES users (id),
  name             text NOT NULL,
  idempotency_key  text UNIQUE,
  status           text NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'undone')),
  params           jsonb NOT NULL DEFAULT '{}',
  result           jsonb,
  error            text,
  undo_until       timestamptz,
  undone_at        timestamptz,
  undo_of          bigint REFERENCES actions (id),
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz
);
CREATE INDEX actions_user_history ON actions (user_id, id DESC);
CREATE UNIQUE INDEX actions_undone_once ON actions (undo_of) WHERE undo_of IS NOT NULL;
CREATE INDEX actions_pending ON actions (created_at) WHERE status = 'pending';
