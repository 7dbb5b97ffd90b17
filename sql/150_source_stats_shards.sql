-- Source analytics written by every besitos event (gamification subscriber): one row per (day, source)
-- made all of a day's /daily events wait on one row lock until each commit. Rows are now split by
-- shard (user id mod 16): a user's events already run one at a time, different users no longer queue.
-- Readers sum over shards (a day and source is the sum of its rows).
ALTER TABLE besitos_source_stats ADD COLUMN shard smallint NOT NULL DEFAULT 0 CHECK (shard >= 0);
ALTER TABLE besitos_source_stats DROP CONSTRAINT besitos_source_stats_pkey;
ALTER TABLE besitos_source_stats ADD PRIMARY KEY (day, source, shard);
