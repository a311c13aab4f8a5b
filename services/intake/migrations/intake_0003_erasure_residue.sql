-- depends: intake_0002_follow_and_retain
-- Erasure reaches the residue: escalation reasons go with the case; observations that never
-- joined a case are erased after their own retention; an idempotency fingerprint is an
-- HMAC (keyed), belongs to the case or observation it created and goes with it.
ALTER TABLE case_escalations ALTER COLUMN reason DROP NOT NULL;
ALTER TABLE observations ADD COLUMN erased_at timestamptz;
CREATE INDEX observations_unjoined ON observations (recorded_at) WHERE case_id IS NULL AND erased_at IS NULL;
ALTER TABLE idempotency_keys ADD COLUMN subject text;   -- the case (or lone observation) it created
CREATE INDEX idempotency_keys_subject ON idempotency_keys (subject);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- fingerprints written before were unkeyed SHA-256 of the whole body: not kept
DELETE FROM idempotency_keys;
