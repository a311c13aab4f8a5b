-- depends: reporting_0002_neighbourhood
-- Disclosure control (domain/disclosure.py): every fact row carries a record key, a keyed
-- hash of its random id; a published cell is rounded by the sum of its records' keys.
ALTER TABLE case_facts        ADD COLUMN record_key bigint NOT NULL DEFAULT 0;
ALTER TABLE complaint_facts   ADD COLUMN record_key bigint NOT NULL DEFAULT 0;
ALTER TABLE observation_facts ADD COLUMN record_key bigint NOT NULL DEFAULT 0;
ALTER TABLE referral_facts    ADD COLUMN record_key bigint NOT NULL DEFAULT 0;
ALTER TABLE escalation_facts  ADD COLUMN record_key bigint NOT NULL DEFAULT 0;
