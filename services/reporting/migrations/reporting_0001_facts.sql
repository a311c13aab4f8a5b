-- depends: runtime_0001_outbox_inbox
-- Facts without personal data: ids are random case/referral ids, places are CBS codes.
CREATE TABLE case_facts (
    case_id        uuid PRIMARY KEY,
    corporation_id text        NOT NULL,
    category       text        NOT NULL,
    severity       text        NOT NULL,
    buurt_code     text        NOT NULL,
    wijk_code      text        NOT NULL,
    opened_at      timestamptz NOT NULL
);
CREATE INDEX case_facts_buurt ON case_facts (buurt_code, category);

CREATE TABLE referral_facts (
    referral_id  uuid PRIMARY KEY,
    case_id      uuid        NOT NULL,
    partner_id   text        NOT NULL,
    partner_type text,
    status       text        NOT NULL,
    requested_at timestamptz,
    responded_at timestamptz
);
CREATE INDEX referral_facts_case ON referral_facts (case_id);
