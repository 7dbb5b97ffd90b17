-- Reaction rewards (issue 23, seed §4.1): 2 besitos per post, once per user per post, at most 3
-- rewarded reactions a day per person (the 'reaction' cap of lib/besitos/policy.ts, counted per
-- pseudonym in besitos_caps). lib/gamification/reactions.ts.

-- One row per user and reacted target (a bot post's button, or a message in a group where the bot is
-- an administrator): the reaction is on while `active`; taking it back and reacting again only
-- flips `active`, so it can never be rewarded twice. `rewarded` says whether the first reaction paid.
CREATE TABLE reactions (
  id              bigserial PRIMARY KEY,
  user_id         bigint NOT NULL REFERENCES users (id),
  -- 'post:<channel_posts.id>' or 'msg:<chat id>:<message id>' (a group's ids, never a person's)
  target          text NOT NULL CHECK (target ~ '^(post:[0-9]+|msg:-?[0-9]+:[0-9]+)$'),
  active          boolean NOT NULL DEFAULT true,
  rewarded        boolean NOT NULL DEFAULT false,
  transaction_id  bigint REFERENCES transactions (id),
  day             date NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, target)
);
CREATE INDEX reactions_live ON reactions (target) WHERE active;
