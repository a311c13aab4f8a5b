-- depends: runtime_0001_outbox_inbox
CREATE TABLE partners (
    partner_id    text PRIMARY KEY,
    name          text        NOT NULL,
    partner_type  text        NOT NULL,
    region        text        NOT NULL,
    coordinator   text,
    registered_at timestamptz NOT NULL
);

CREATE TABLE agreements (
    agreement_id text PRIMARY KEY,
    partner_id   text        NOT NULL REFERENCES partners,
    purposes     text[]      NOT NULL,
    fields       text[]      NOT NULL,
    legal_basis  text        NOT NULL,
    valid_from   date        NOT NULL,
    valid_until  date,
    revoked      boolean     NOT NULL DEFAULT false,
    revision     integer     NOT NULL,
    changed_at   timestamptz NOT NULL
);

-- Referrals as delivered to (or held from) their partner.
CREATE TABLE referrals (
    referral_id   uuid PRIMARY KEY,
    case_id       uuid        NOT NULL,
    partner_id    text        NOT NULL,
    purpose       text        NOT NULL,
    legal_basis   text        NOT NULL,
    status        text        NOT NULL,
    hold_reason   text,
    payload       jsonb,                -- the referral as the partner sees it; personal data
    response      text,                 -- accept note or decline reason
    requested_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX referrals_partner ON referrals (partner_id, requested_at DESC);
CREATE INDEX referrals_case ON referrals (case_id);
