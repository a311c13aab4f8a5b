-- depends: reporting_0001_facts
-- The neighbourhood picture. Still no personal data: random ids, CBS codes, categories,
-- pseudonymous professional ids, coarse customer groups, and a keyed hash of the address
-- (location_key) that finds repeats without revealing where.
ALTER TABLE case_facts
    ADD COLUMN status               text NOT NULL DEFAULT 'open',
    ADD COLUMN closed_at            timestamptz,
    ADD COLUMN liveability_cost_eur numeric(12, 2),
    ADD COLUMN professional         text,
    ADD COLUMN household_type       text,
    ADD COLUMN age_band             text,
    ADD COLUMN location_key         text;
CREATE INDEX case_facts_opened ON case_facts (opened_at);
CREATE INDEX case_facts_location ON case_facts (location_key);

ALTER TABLE referral_facts
    ADD COLUMN respond_by      timestamptz,
    ADD COLUMN response_breach boolean NOT NULL DEFAULT false;

CREATE TABLE complaint_facts (
    complaint_id uuid PRIMARY KEY,
    case_id      uuid        NOT NULL,
    category     text        NOT NULL,
    buurt_code   text        NOT NULL,
    repeat_count integer     NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX complaint_facts_buurt ON complaint_facts (buurt_code, received_at);

CREATE TABLE observation_facts (
    observation_id uuid PRIMARY KEY,
    category       text        NOT NULL,
    buurt_code     text        NOT NULL,
    wijk_code      text        NOT NULL,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX observation_facts_buurt ON observation_facts (buurt_code, recorded_at);

CREATE TABLE escalation_facts (
    escalation_id uuid PRIMARY KEY,
    case_id       uuid        NOT NULL,
    level         text        NOT NULL,
    raised_at     timestamptz NOT NULL,
    resolved_at   timestamptz
);
CREATE INDEX escalation_facts_case ON escalation_facts (case_id);

-- Signals already published, so a recurring detection run announces each one once.
CREATE TABLE signals (
    signal_key   text PRIMARY KEY,        -- kind/scope/period
    signal_id    uuid        NOT NULL,
    kind         text        NOT NULL,
    scope        text        NOT NULL,
    buurt_code   text,
    evidence     jsonb       NOT NULL,
    summary      text        NOT NULL,
    period_start date        NOT NULL,
    period_end   date        NOT NULL,
    detected_at  timestamptz NOT NULL
);
