-- Economy safeguards (issue 23): anomaly flags for admins and rollbacks of over-granted besitos.

-- What the anomaly job (lib/economy, hourly) found: one row per user, kind, source and window (the
-- local date the sliding window ended on), so running the job again the same day updates the
-- evidence and never adds a second flag. Flags only inform admins: nothing is taken automatically.
CREATE TABLE economy_flags (
  id            bigserial PRIMARY KEY,
  user_id       bigint NOT NULL REFERENCES users (id),
  kind          text NOT NULL CHECK (kind IN ('outlier', 'over_cap', 'unmatched')),
  -- the ledger source the flag is about; '*' for the user's earnings from every source
  source        text NOT NULL,
  window_key    text NOT NULL,
  window_start  timestamptz NOT NULL,
  window_end    timestamptz NOT NULL,
  amount        bigint NOT NULL DEFAULT 0,
  score         double precision,
  detail        jsonb NOT NULL DEFAULT '{}',
  status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dismissed', 'reverted')),
  resolved_by   bigint REFERENCES users (id),
  resolved_at   timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT economy_flags_once UNIQUE (user_id, kind, source, window_key)
);
CREATE INDEX economy_flags_open ON economy_flags (created_at DESC) WHERE status = 'open';

-- Every transaction an admin's rollback looked at, once: what was taken back and what could not be
-- (the user had already spent it: a balance never goes below zero). A transaction is rolled back at
-- most once, even when nothing could be taken (UNIQUE transaction_id), so asking again changes nothing.
CREATE TABLE economy_rollback_items (
  transaction_id  bigint PRIMARY KEY REFERENCES transactions (id),
  action_id       bigint NOT NULL REFERENCES actions (id),
  user_id         bigint NOT NULL REFERENCES users (id),
  amount          bigint NOT NULL CHECK (amount > 0),
  taken           bigint NOT NULL CHECK (taken >= 0),
  shortfall       bigint NOT NULL CHECK (shortfall >= 0),
  reversal_id     bigint REFERENCES transactions (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (taken + shortfall = amount)
);
CREATE INDEX economy_rollback_items_action ON economy_rollback_items (action_id);

-- The dashboard's per-day sums read grants and spends of a period by time.
CREATE INDEX transactions_created ON transactions (created_at);
