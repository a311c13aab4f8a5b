-- depends: intake_0002_follow_and_retain
-- A random reference per building (postcode + huisnummer) for the services that must count
-- repeats at one building without knowing where it is (reporting's hotspots). Only intake
-- can map it back; it is not derived from the address, so it cannot be brute-forced.
CREATE TABLE buildings (
    building_ref text PRIMARY KEY,           -- bld- + 32 random hex digits
    postcode     text        NOT NULL,
    huisnummer   integer     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (postcode, huisnummer)
);
ALTER TABLE cases ADD COLUMN building_ref text;   -- NULL once erased
CREATE INDEX cases_building ON cases (building_ref) WHERE building_ref IS NOT NULL;
