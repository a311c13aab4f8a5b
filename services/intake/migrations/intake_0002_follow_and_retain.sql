-- depends: intake_0001_cases
-- Repeat complaints (same unit and category family), closing/reopening, customer group,
-- erasure after retention, observations, idempotency keys and API clients.
ALTER TABLE cases
    ADD COLUMN address_key          text,          -- postcode|huisnummer|toevoeging; NULL once erased
    ADD COLUMN category_family      text,
    ADD COLUMN customer_group       jsonb,         -- categories only, never identities
    ADD COLUMN source_shape         text NOT NULL DEFAULT 'samenwijk',
    ADD COLUMN last_complaint_at    timestamptz,
    ADD COLUMN outcome              text,
    ADD COLUMN liveability_cost_eur numeric(12, 2),
    ADD COLUMN reopened_at          timestamptz,
    ADD COLUMN erased_at            timestamptz;
UPDATE cases SET address_key = (details->'address'->>'postcode') || '|' || (details->'address'->>'huisnummer')
                               || '|' || upper(coalesce(details->'address'->>'toevoeging', '')),
                 category_family = split_part(category, '.', 1),
                 last_complaint_at = opened_at;
ALTER TABLE cases ALTER COLUMN category_family SET NOT NULL, ALTER COLUMN last_complaint_at SET NOT NULL;
-- repeats find the open case of a unit and family (submits for one unit are serialised by
-- an advisory lock, since older data may already hold several open cases for it)
CREATE INDEX cases_open_per_unit ON cases (corporation_id, address_key, category_family, last_complaint_at DESC)
    WHERE status = 'open';
CREATE INDEX cases_closed_at ON cases (closed_at) WHERE status = 'closed';
CREATE INDEX cases_list ON cases (corporation_id, opened_at DESC, case_id DESC);

ALTER TABLE complaints ADD COLUMN repeat_count integer NOT NULL DEFAULT 1;

ALTER TABLE case_escalations
    ADD COLUMN referral_id uuid,
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN resolution  text;
-- escalation.resolved may come before its escalation.raised (different partitions)
CREATE TABLE escalation_resolutions (
    escalation_id uuid PRIMARY KEY,
    case_id       uuid        NOT NULL,
    reason        text        NOT NULL,
    resolved_at   timestamptz NOT NULL
);

CREATE TABLE observations (
    observation_id uuid PRIMARY KEY,
    corporation_id text        NOT NULL,
    case_id        uuid REFERENCES cases,
    observer       text        NOT NULL,
    category       text        NOT NULL,
    buurt_code     text        NOT NULL,
    wijk_code      text        NOT NULL,
    address        jsonb,                   -- personal data: erased with its case
    note           text,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX observations_case ON observations (case_id);

-- A retried POST with the same key gets the first answer back.
CREATE TABLE idempotency_keys (
    corporation_id text        NOT NULL,
    key            text        NOT NULL,
    fingerprint    text        NOT NULL,
    status_code    integer     NOT NULL,
    response       jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corporation_id, key)
);

-- Client credentials: secrets are kept only as salted scrypt hashes.
CREATE TABLE api_clients (
    client_id       text PRIMARY KEY,
    organisation_id text        NOT NULL,
    org_type        text        NOT NULL,
    secret_hash     text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
