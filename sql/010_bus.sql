-- Event bus: what subscribers have processed, the audit log, events kept for inspection, and the
-- first statistics fed by events (besitos per source and day, seed §4.1).

-- One row per (subscriber, event) processed, written in the same transaction as the effect:
-- a redelivery finds the row and changes nothing.
CREATE TABLE processed_events (
  subscriber    text NOT NULL,
  event_id      uuid NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subscriber, event_id)
);

-- The seed's EventLog: every event, as published, queryable by user and by type.
CREATE TABLE event_log (
  event_id     uuid PRIMARY KEY,
  type         text NOT NULL,
  version      int NOT NULL,
  user_id      bigint,
  occurred_at  timestamptz NOT NULL,
  data         jsonb NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_user ON event_log (user_id, occurred_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX event_log_type ON event_log (type, occurred_at DESC);
CREATE INDEX event_log_recent ON event_log (occurred_at DESC);

-- Deliveries a subscriber acknowledged without processing (unknown type, malformed payload):
-- kept for admins instead of being retried forever.
CREATE TABLE dead_events (
  id           bigserial PRIMARY KEY,
  subscriber   text NOT NULL,
  event_id     text,
  type         text,
  reason       text NOT NULL,
  body         text NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_events_recent ON dead_events (received_at DESC);
-- A redelivered bad event is kept once.
CREATE UNIQUE INDEX dead_events_once ON dead_events (subscriber, event_id) WHERE event_id IS NOT NULL;

-- Source analytics: besitos earned and spent per source per local calendar day.
CREATE TABLE besitos_source_stats (
  day             date NOT NULL,
  source          text NOT NULL,
  earned          bigint NOT NULL DEFAULT 0 CHECK (earned >= 0),
  earned_count    int NOT NULL DEFAULT 0 CHECK (earned_count >= 0),
  spent           bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
  spent_count     int NOT NULL DEFAULT 0 CHECK (spent_count >= 0),
  reversed        bigint NOT NULL DEFAULT 0 CHECK (reversed >= 0),
  reversed_count  int NOT NULL DEFAULT 0 CHECK (reversed_count >= 0),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (day, source)
);

-- Published rows are kept a while for inspection; the sweep deletes old ones with this index.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
