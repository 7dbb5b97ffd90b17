-- The outbox sweep deletes processed_events rows past their retention (lib/bus/relay.ts pruneOutbox).
CREATE INDEX processed_events_age ON processed_events (processed_at);
