-- Foundation: users, the besitos ledger, the Telegram update inbox and the event outbox.
-- Invariants live here, not only in TypeScript.

-- Internal account id: the ledger references users.id, never the Telegram id, so that deleting a
-- user's personal data (/borrar) unlinks the audit trail from the person without editing it.
CREATE TABLE users (
  id              bigserial PRIMARY KEY,
  telegram_id     bigint UNIQUE,
  username        text,
  first_name      text,
  last_name       text,
  language_code   text,
  status          text NOT NULL DEFAULT 'free' CHECK (status IN ('free', 'vip', 'banned')),
  metadata        jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_active_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at      timestamptz
);
CREATE INDEX users_username ON users (lower(username)) WHERE username IS NOT NULL;

CREATE TABLE user_balances (
  user_id           bigint PRIMARY KEY REFERENCES users (id),
  besitos           bigint NOT NULL DEFAULT 0 CHECK (besitos >= 0),
  lifetime_besitos  bigint NOT NULL DEFAULT 0 CHECK (lifetime_besitos >= 0),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Append-only ledger. amount is signed; balance_after is the balance right after this row.
CREATE TABLE transactions (
  id               bigserial PRIMARY KEY,
  user_id          bigint NOT NULL REFERENCES users (id),
  amount           bigint NOT NULL CHECK (amount <> 0),
  type             text NOT NULL CHECK (type IN ('grant', 'spend', 'transfer_in', 'transfer_out', 'reversal')),
  source           text NOT NULL,
  description      text,
  metadata         jsonb NOT NULL DEFAULT '{}',
  balance_after    bigint NOT NULL CHECK (balance_after >= 0),
  idempotency_key  text NOT NULL UNIQUE,
  reverses         bigint REFERENCES transactions (id),
  counterparty_id  bigint REFERENCES users (id),
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX transactions_reversed_once ON transactions (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX transactions_user_history ON transactions (user_id, id DESC);
CREATE INDEX transactions_source_day ON transactions (source, created_at);

CREATE FUNCTION transactions_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'transactions are append-only: use a reversal' USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER transactions_no_update BEFORE UPDATE OR DELETE ON transactions
  FOR EACH ROW EXECUTE FUNCTION transactions_are_append_only();

-- One row per user per calendar day (in the configured zone); the streak is derived at claim time.
CREATE TABLE daily_claims (
  user_id         bigint NOT NULL REFERENCES users (id),
  day             date NOT NULL,
  streak          int NOT NULL CHECK (streak >= 1),
  transaction_id  bigint NOT NULL REFERENCES transactions (id),
  request_key     text NOT NULL,
  claimed_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, day)
);

-- Telegram update inbox: update_id is the dedupe key. The payload is kept only while an update is
-- being handled or has failed (for admins), then cleared.
CREATE TABLE telegram_updates (
  update_id     bigint PRIMARY KEY,
  kind          text NOT NULL,
  from_id       bigint,
  status        text NOT NULL CHECK (status IN ('processing', 'retry', 'done', 'failed')),
  attempts      int NOT NULL DEFAULT 1,
  locked_until  timestamptz,
  payload       jsonb,
  error         text,
  received_at   timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX telegram_updates_failed ON telegram_updates (updated_at) WHERE status = 'failed';
CREATE INDEX telegram_updates_from ON telegram_updates (from_id) WHERE from_id IS NOT NULL;

-- Transactional outbox: written in the same transaction as the effect, relayed to the bus later.
CREATE TABLE outbox (
  id               bigserial PRIMARY KEY,
  event_id         uuid NOT NULL UNIQUE,
  type             text NOT NULL,
  user_id          bigint,
  event            jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  published_at     timestamptz,
  attempts         int NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE published_at IS NULL;

-- Raises serialization_failure (40001) so that a single-statement ledger write that lost an
-- idempotency race aborts as a whole and is retried, instead of committing half of its CTEs.
CREATE FUNCTION ledger_abort_if(cond boolean, reason text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF cond THEN
    RAISE EXCEPTION '%', reason USING ERRCODE = '40001';
  END IF;
  RETURN false;
END $$;
