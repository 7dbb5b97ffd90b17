-- Auctions (lib/gamification/auctions): an admin auctions a catalogue item; bids hold besitos
-- (besitos_holds, sql/170); the end (a scheduled job, once) posts the winner's hold as a spend plus
-- a 10% 'tax' row, and puts the item in the winner's backpack.
CREATE TABLE auctions (
  id              bigserial PRIMARY KEY,
  item_key        text NOT NULL,
  -- The item's name when the auction was created (the catalogue may change while it runs).
  item_name       text NOT NULL,
  starts_at       timestamptz NOT NULL,
  ends_at         timestamptz NOT NULL,
  min_bid         bigint NOT NULL CHECK (min_bid > 0),
  increment       bigint NOT NULL CHECK (increment > 0),
  status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended', 'cancelled')),
  -- The current highest bid and its hold; leader and bid are set together.
  leader_id       bigint REFERENCES users (id),
  leader_bid      bigint,
  leader_hold_id  bigint REFERENCES besitos_holds (id),
  bids            int NOT NULL DEFAULT 0,
  created_by      bigint REFERENCES users (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- Set by the end: who won, for how much, the tax burned and the spend row.
  ended_at        timestamptz,
  winner_id       bigint REFERENCES users (id),
  price           bigint,
  tax             bigint,
  transaction_id  bigint REFERENCES transactions (id),
  CHECK (ends_at > starts_at),
  CHECK ((leader_id IS NULL) = (leader_bid IS NULL) AND (leader_id IS NULL) = (leader_hold_id IS NULL))
);
CREATE INDEX auctions_open ON auctions (ends_at) WHERE status = 'open';
CREATE INDEX auctions_leader ON auctions (leader_id) WHERE status = 'open';

-- Every accepted bid. user_id is blanked by /borrar (the amount stays: the auction's history).
CREATE TABLE auction_bids (
  id               bigserial PRIMARY KEY,
  auction_id       bigint NOT NULL REFERENCES auctions (id),
  user_id          bigint REFERENCES users (id),
  amount           bigint NOT NULL CHECK (amount > 0),
  status           text NOT NULL DEFAULT 'leading' CHECK (status IN ('leading', 'outbid', 'won', 'withdrawn', 'cancelled')),
  idempotency_key  text NOT NULL CONSTRAINT auction_bids_key UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX auction_bids_one_leading ON auction_bids (auction_id) WHERE status = 'leading';
CREATE INDEX auction_bids_by_auction ON auction_bids (auction_id, amount DESC);
CREATE INDEX auction_bids_by_user ON auction_bids (user_id) WHERE user_id IS NOT NULL;

-- An auction's item arrives in the backpack as its own kind of move.
ALTER TABLE item_moves DROP CONSTRAINT IF EXISTS item_moves_kind_check;
ALTER TABLE item_moves ADD CONSTRAINT item_moves_kind_check CHECK (kind IN ('purchase', 'use', 'reward', 'auction'));
