-- Expiring bonus besitos (seed §4.1: "los besitos bonus … expiran en 30 días si no se usan").
-- A bonus grant opens a lot; spending takes from open lots first, soonest expiry first, then from the
-- non-expiring rest; the expiry job (lib/besitos/lots.ts, on lib/scheduler) writes an 'expire' spend
-- for what a lot still holds when it expires. user_balances.bonus_besitos is the sum of the open lots,
-- so a user without bonus (bonus_besitos = 0) keeps the one-statement spend; the rest of the balance
-- (besitos − bonus_besitos) is the user's non-expiring part. Second ledger invariant (tests and admin
-- check): bonus_besitos = Σ open lots' remaining, 0 ≤ bonus_besitos ≤ besitos, so that
-- balance = non-expiring part + Σ open lots.
ALTER TABLE user_balances ADD COLUMN bonus_besitos bigint NOT NULL DEFAULT 0 CHECK (bonus_besitos >= 0);
ALTER TABLE user_balances ADD CONSTRAINT user_balances_bonus_within CHECK (bonus_besitos <= besitos);

CREATE TABLE besitos_lots (
  id              bigserial PRIMARY KEY,
  user_id         bigint NOT NULL REFERENCES users (id),
  -- The ledger row that opened it: a bonus grant, a gift (transfer_in) carrying the sender's lots, or a
  -- reversal giving back what a spend had taken from lots.
  transaction_id  bigint NOT NULL REFERENCES transactions (id),
  amount          bigint NOT NULL CHECK (amount > 0),
  remaining       bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
  expires_at      timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expired_at      timestamptz
);
CREATE INDEX besitos_lots_open ON besitos_lots (user_id, expires_at, id) WHERE remaining > 0;
CREATE INDEX besitos_lots_by_transaction ON besitos_lots (transaction_id);

-- What each ledger row took from (negative) or put into (positive) each lot: a reversal gives back to
-- the lots a spend took from, with their expiry; an audit of every lot's life. Append-only.
CREATE TABLE besitos_lot_moves (
  transaction_id  bigint NOT NULL REFERENCES transactions (id),
  lot_id          bigint NOT NULL REFERENCES besitos_lots (id),
  amount          bigint NOT NULL CHECK (amount <> 0),
  PRIMARY KEY (transaction_id, lot_id)
);
CREATE INDEX besitos_lot_moves_lot ON besitos_lot_moves (lot_id);
