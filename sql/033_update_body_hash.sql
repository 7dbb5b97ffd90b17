-- An update_id is bound to its first body: a redelivery of an update left in 'retry' with a different
-- body (a forged or corrupted redelivery) is logged and ignored instead of handled (lib/webhook/handle.ts).
-- A SHA-256 of the body; cleared with the payload when the update is done.
ALTER TABLE telegram_updates ADD COLUMN body_hash text;
