-- Holds (escrow) in the besitos ledger, modelled on TigerBeetle's pending transfers: a hold makes
-- besitos no longer spendable while they stay the user's (balance unchanged, no ledger row); it ends
-- posted (it becomes a spend: ledger rows written then) or voided (released).
--
-- user_balances.held = Σ pending holds of the user. Spendable = besitos - held: every spend, transfer
-- and reversal guards on it in its own statement, and the CHECK below is the backstop for any writer
-- that forgets (a statement that would spend held besitos fails instead of committing).
ALTER TABLE user_balances ADD COLUMN held bigint NOT NULL DEFAULT 0;
ALTER TABLE user_balances ADD CONSTRAINT user_balances_held_within CHECK (held >= 0 AND held <= besitos);

CREATE TABLE besitos_holds (
  id               bigserial PRIMARY KEY,
  user_id          bigint NOT NULL REFERENCES users (id),
  amount           bigint NOT NULL CHECK (amount > 0),
  -- What the besitos are held for ('auction:12'): at most one pending hold per user and reference.
  reference        text NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'posted', 'voided')),
  idempotency_key  text NOT NULL CONSTRAINT besitos_holds_key UNIQUE,
  -- Why it was voided (outbid, replaced, erased, cancelled …); the spend it became when posted.
  void_reason      text,
  transaction_id   bigint REFERENCES transactions (id),
  created_at       timestamptz NOT NULL DEFAULT now(),
  resolved_at      timestamptz,
  CHECK ((status = 'pending') = (resolved_at IS NULL))
);
CREATE UNIQUE INDEX besitos_holds_one_pending ON besitos_holds (user_id, reference) WHERE status = 'pending';
CREATE INDEX besitos_holds_by_reference ON besitos_holds (reference) WHERE status = 'pending';

-- 'tax': besitos burned as a commission (auctions burn 10% of the price). The list of types is
-- extended, not rewritten, so that types other migrations added stay allowed.
DO $$
DECLARE
  c record;
  types text[] := ARRAY['tax'];
BEGIN
  FOR c IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
            WHERE conrelid = 'transactions'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) ~ '\(type = ANY'
  LOOP
    -- Both spellings: ANY (ARRAY['grant'::text, …]) and ANY ('{grant,…}'::text[]).
    types := types || ARRAY(SELECT m[1] FROM regexp_matches(substring(c.def FROM 'ANY.*$'), '([a-z_]+)', 'g') AS m
                             WHERE m[1] NOT IN ('array', 'text'));
    EXECUTE format('ALTER TABLE transactions DROP CONSTRAINT %I', c.conname);
  END LOOP;
  types := ARRAY(SELECT DISTINCT x FROM unnest(types) AS x ORDER BY x);
  EXECUTE format('ALTER TABLE transactions ADD CONSTRAINT transactions_type_check CHECK (type = ANY (%L::text[]))', types);
END $$;

-- Refuses a hold in the middle of a statement (so that statements pipelined after it in the same
-- transaction do not run): SQLSTATE HD001, the message is the spendable amount.
CREATE FUNCTION besitos_hold_refuse(cond boolean, spendable bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF cond THEN
    RAISE EXCEPTION '%', COALESCE(spendable, -1) USING ERRCODE = 'HD001';
  END IF;
  RETURN false;
END $$;
