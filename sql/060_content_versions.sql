-- Content versions: everything authored (levels, fragments, trivia …) is published as an immutable,
-- validated version identified by the sha256 of its canonical JSON; one row says which is active.

-- The catalogue of published versions, whatever store holds their content.
CREATE TABLE content_versions (
  id            bigserial PRIMARY KEY,
  hash          text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
  store         text NOT NULL CHECK (store IN ('postgres', 'mongodb')),
  -- Counts for operators (levels, fragments, trivia); not read by the bot.
  summary       jsonb NOT NULL DEFAULT '{}',
  published_at  timestamptz NOT NULL DEFAULT now()
);

-- The Postgres store (the embedded default): the content of each version, by hash.
CREATE TABLE content_documents (
  hash       text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
  content    jsonb NOT NULL,
  stored_at  timestamptz NOT NULL DEFAULT now()
);

-- Published content never changes: a new edit is a new version.
CREATE FUNCTION content_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'published content is immutable: publish a new version instead' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER content_versions_immutable BEFORE UPDATE OR DELETE ON content_versions
  FOR EACH ROW EXECUTE FUNCTION content_immutable();
CREATE TRIGGER content_documents_immutable BEFORE UPDATE OR DELETE ON content_documents
  FOR EACH ROW EXECUTE FUNCTION content_immutable();

-- The active pointer: at most one row. Activating a version (or rolling back to an older one) is
-- one statement: INSERT … ON CONFLICT (singleton) DO UPDATE. The state-load statement reads it.
CREATE TABLE content_active (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version_id    bigint NOT NULL REFERENCES content_versions (id),
  activated_at  timestamptz NOT NULL DEFAULT now()
);
