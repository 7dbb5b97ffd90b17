-- Personal data left in scheduled jobs (issue 16). Keyboard close texts spelled other people's names
-- (they now keep lib/bot/keyboard.ts nameRef ids, rendered when the job runs): the texts written before
-- go, so those messages just lose their buttons. Finished vip.erased jobs kept the Telegram id of the
-- erased person until pruned (the payload is now blanked when the job ends: personalPayload).
UPDATE scheduled_jobs SET payload = jsonb_set(payload, '{text}', 'null'::jsonb)
 WHERE kind = 'keyboard.close' AND payload ? 'text' AND payload->>'text' IS NOT NULL;
UPDATE scheduled_jobs SET payload = '{}'::jsonb
 WHERE kind = 'vip.erased' AND state IN ('done', 'failed', 'cancelled');
