-- Caps per source (lib/besitos/policy.ts): what a person (abuse pseudonym, so /borrar doesn't reset it)
-- or, when the grant comes without one, a user ('user:<id>') got from a source in the current local
-- day and ISO week. One row per subject and source holds both periods, so that the grant's own
-- statement checks and counts day and week caps in one guarded upsert (exact under concurrency: the
-- row lock serialises grants of the same subject and source; a refused grant changes nothing).
-- A grant in a later period restarts that period's counters (a late grant of an earlier period counts
-- in the current one: never more than the cap).
CREATE TABLE besitos_caps (
  subject       text NOT NULL,
  source        text NOT NULL,
  day           date NOT NULL,
  day_besitos   bigint NOT NULL CHECK (day_besitos >= 0),
  day_grants    int NOT NULL CHECK (day_grants >= 0),
  week          date NOT NULL,
  week_besitos  bigint NOT NULL CHECK (week_besitos >= 0),
  week_grants   int NOT NULL CHECK (week_grants >= 0),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subject, source)
);
