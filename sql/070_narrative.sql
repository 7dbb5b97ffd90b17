-- Narrative: where each user is in the story, and their trivia answers.

-- One row per user who started the story. The position (current fragment, its level, the step that
-- every button carries) is in columns; the sets that only the engine reads (completed fragments,
-- flags, visit counts, decisions taken, premium unlocks paid, levels completed) are one JSONB
-- document written by lib/narrative/repository.ts in the same transaction as rewards and events.
CREATE TABLE user_narrative_progress (
  user_id           bigint PRIMARY KEY REFERENCES users (id),
  content_version   text NOT NULL,
  current_fragment  text,
  current_level     int NOT NULL DEFAULT 0 CHECK (current_level >= 0),
  step              int NOT NULL DEFAULT 0 CHECK (step >= 0),
  state             jsonb NOT NULL DEFAULT '{}',
  started_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One row per (user, question): asked_at is written when the question is sent (the server's clock
-- measures the time limit), the answer once. The primary key makes every question reward once.
CREATE TABLE narrative_trivia_answers (
  user_id          bigint NOT NULL REFERENCES users (id),
  trivia_key       text NOT NULL,
  content_version  text NOT NULL,
  asked_at         timestamptz NOT NULL,
  answered_at      timestamptz,
  option_index     int,
  correct          boolean,
  late             boolean,
  reward_besitos   int NOT NULL DEFAULT 0 CHECK (reward_besitos >= 0),
  PRIMARY KEY (user_id, trivia_key),
  CHECK ((answered_at IS NULL) = (correct IS NULL))
);
