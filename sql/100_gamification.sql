-- Gamification (lib/gamification): missions, achievements, inventory, referrals.
-- The catalogue (what missions, achievements and items exist) is content (content/gamification);
-- these tables hold what users did and own, by catalogue key.

-- What a user did, one row per (event, kind): the subscriber inserts it idempotently and computes
-- progress from the set, so a replayed or late event counts once and in its own period.
CREATE TABLE gamification_facts (
  user_id    bigint NOT NULL REFERENCES users(id),
  kind       text NOT NULL,
  source_id  text NOT NULL,
  at         timestamptz NOT NULL,
  subject    text,
  amount     bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (user_id, kind, source_id)
);
CREATE INDEX gamification_facts_by_time ON gamification_facts (user_id, kind, at);

-- A mission in one of its periods ('once', or the local date its day/week starts).
CREATE TABLE user_missions (
  user_id         bigint NOT NULL REFERENCES users(id),
  mission_key     text NOT NULL,
  period          text NOT NULL,
  status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed')),
  progress        int NOT NULL DEFAULT 0 CHECK (progress >= 0),
  target          int NOT NULL CHECK (target > 0),
  expires_at      timestamptz,
  reward_besitos  int NOT NULL DEFAULT 0,
  assigned_at     timestamptz NOT NULL DEFAULT now(),
  completed_at    timestamptz,
  PRIMARY KEY (user_id, mission_key, period)
);

CREATE TABLE user_achievements (
  user_id          bigint NOT NULL REFERENCES users(id),
  achievement_key  text NOT NULL,
  progress         int NOT NULL DEFAULT 0 CHECK (progress >= 0),
  target           int NOT NULL CHECK (target > 0),
  unlocked_at      timestamptz,
  reward_besitos   int NOT NULL DEFAULT 0,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, achievement_key)
);
CREATE INDEX user_achievements_unlocked ON user_achievements (user_id, unlocked_at) WHERE unlocked_at IS NOT NULL;

-- Owned units (quantity) and units ever bought (bought, for per-user limits).
CREATE TABLE user_inventory (
  user_id      bigint NOT NULL REFERENCES users(id),
  item_key     text NOT NULL,
  quantity     int NOT NULL DEFAULT 0 CHECK (quantity >= 0),
  bought       int NOT NULL DEFAULT 0 CHECK (bought >= 0),
  acquired_at  timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, item_key)
);

-- Units sold per item, for stock limits (a guarded UPDATE sells the last unit once).
CREATE TABLE item_sales (
  item_key  text PRIMARY KEY,
  sold      int NOT NULL DEFAULT 0 CHECK (sold >= 0)
);

-- One row per purchase or use, keyed by the press that caused it: a double tap does it once.
CREATE TABLE item_moves (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id),
  item_key    text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('purchase', 'use', 'reward')),
  quantity    int NOT NULL CHECK (quantity > 0),
  price       int NOT NULL DEFAULT 0,
  idempotency_key text NOT NULL CONSTRAINT item_moves_key UNIQUE,
  detail      jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_moves_user ON item_moves (user_id, created_at);

-- Running effects of consumables (power-ups).
CREATE TABLE user_effects (
  user_id     bigint NOT NULL REFERENCES users(id),
  kind        text NOT NULL,
  multiplier  int NOT NULL DEFAULT 1,
  until       timestamptz NOT NULL,
  PRIMARY KEY (user_id, kind)
);

CREATE TABLE referral_codes (
  user_id  bigint PRIMARY KEY REFERENCES users(id),
  code     text NOT NULL CONSTRAINT referral_codes_code UNIQUE
);

-- A referee is referred at most once (primary key); rewarded once when they have played.
CREATE TABLE referrals (
  referee_id   bigint PRIMARY KEY REFERENCES users(id),
  referrer_id  bigint NOT NULL REFERENCES users(id),
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'rewarded', 'capped')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  rewarded_at  timestamptz,
  reward_day   date,
  CHECK (referee_id <> referrer_id)
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id, reward_day);
