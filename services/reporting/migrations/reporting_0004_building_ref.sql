-- depends: reporting_0003_record_keys
-- The building is now intake's random building reference, not an HMAC of the address (a
-- brute force over one postcode area undid that). The old pseudonyms are dropped.
ALTER TABLE case_facts DROP COLUMN location_key;
ALTER TABLE case_facts ADD COLUMN building_ref text;
CREATE INDEX case_facts_building ON case_facts (building_ref) WHERE building_ref IS NOT NULL;

-- A hotspot names its buurt; the building only for the corporations with cases there.
ALTER TABLE signals ADD COLUMN building_ref text, ADD COLUMN owners text[];
UPDATE signals SET scope = coalesce(buurt_code, scope), signal_key = 'hotspot/' || signal_id || '/' || period_end
 WHERE kind = 'hotspot';
