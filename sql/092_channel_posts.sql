-- Posts admins draft for a channel, published once by the scheduler (lib/admin/posts.ts).
CREATE TABLE channel_posts (
  id            bigserial PRIMARY KEY,
  chat_id       bigint NOT NULL,
  created_by    bigint REFERENCES users (id),
  text          text NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
  media_type    text CHECK (media_type IN ('photo', 'video')),
  media_url     text,
  -- [{ "text": "…", "url": "https://…" }], one row each; the deep link is a button too.
  buttons       jsonb NOT NULL DEFAULT '[]',
  protect       boolean NOT NULL DEFAULT false,
  status        text NOT NULL CHECK (status IN ('draft', 'scheduled', 'published', 'cancelled', 'failed')),
  publish_at    timestamptz,
  published_at  timestamptz,
  message_id    bigint,
  error         text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (media_type IS NULL OR length(text) <= 1024),
  CHECK (status <> 'scheduled' OR publish_at IS NOT NULL)
);
CREATE INDEX channel_posts_pending ON channel_posts (publish_at) WHERE status = 'scheduled';
