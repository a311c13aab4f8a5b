-- depends: runtime_0001_outbox_inbox
CREATE TABLE cases (
    case_id               uuid PRIMARY KEY,
    corporation_id        text        NOT NULL,
    category              text        NOT NULL,
    severity              text        NOT NULL,
    buurt_code            text        NOT NULL,
    wijk_code             text        NOT NULL,
    status                text        NOT NULL DEFAULT 'open',
    details               jsonb       NOT NULL,   -- personal data: erased after retention
    handling_professional text,
    opened_at             timestamptz NOT NULL,
    closed_at             timestamptz
);
CREATE INDEX cases_corporation ON cases (corporation_id, opened_at DESC);

CREATE TABLE complaints (
    complaint_id uuid PRIMARY KEY,
    case_id      uuid        NOT NULL REFERENCES cases,
    received_at  timestamptz NOT NULL,
    description  text,
    reporter     jsonb                      -- never leaves intake
);
CREATE INDEX complaints_case ON complaints (case_id);

-- Each partner's part of a case, built from referral and partner events.
CREATE TABLE case_parts (
    referral_id  uuid PRIMARY KEY,
    case_id      uuid        NOT NULL,
    partner_id   text        NOT NULL,
    partner_type text,
    purpose      text,
    status       text        NOT NULL,
    status_rank  integer     NOT NULL,
    reason       text,
    respond_by   timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX case_parts_case ON case_parts (case_id);

CREATE TABLE case_escalations (
    escalation_id uuid PRIMARY KEY,
    case_id       uuid        NOT NULL,
    level         text        NOT NULL,
    reason        text        NOT NULL,
    raised_at     timestamptz NOT NULL
);
CREATE INDEX case_escalations_case ON case_escalations (case_id);
