-- Scheduled jobs (lib/scheduler): work that must happen at a time, exactly once.
-- A module writes a row in the same transaction as the cause (schedule); a runner claims due rows
-- with FOR UPDATE SKIP LOCKED under a lease and commits the effect together with state = 'done'.
CREATE TABLE scheduled_jobs (
  id           bigserial PRIMARY KEY,
  kind         text NOT NULL,
  -- Unique: scheduling the same key twice is a no-op; reschedule and cancel address jobs by it.
  key          text NOT NULL CONSTRAINT scheduled_jobs_key UNIQUE,
  payload      jsonb NOT NULL,
  -- When it should run; a handler is told how late it runs relative to this.
  due_at       timestamptz NOT NULL,
  -- When a runner may next take it: due_at, a retry's back-off, or the end of a running attempt's lease.
  run_at       timestamptz NOT NULL,
  state        text NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
  attempts     int NOT NULL DEFAULT 0,
  -- The claim that may complete it: a runner whose lease was taken over can no longer commit.
  lease_id     uuid,
  last_error   text,
  -- Bookkeeping only (rules read the injected clock, passed in by the runners).
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
CREATE INDEX scheduled_jobs_runnable ON scheduled_jobs (run_at, id) WHERE state IN ('pending', 'running');
CREATE INDEX scheduled_jobs_finished ON scheduled_jobs (finished_at) WHERE state IN ('done', 'cancelled');
CREATE INDEX scheduled_jobs_failed ON scheduled_jobs (updated_at DESC) WHERE state = 'failed';
