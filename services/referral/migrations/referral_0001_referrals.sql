-- depends: runtime_0001_outbox_inbox
-- Partners and agreements as the partners service announced them (never called synchronously).
CREATE TABLE partners (
    partner_id    text PRIMARY KEY,
    name          text        NOT NULL,
    partner_type  text        NOT NULL,
    region        text        NOT NULL,
    registered_at timestamptz NOT NULL
);

CREATE TABLE agreements (
    agreement_id text PRIMARY KEY,
    partner_id   text        NOT NULL,
    purposes     text[]      NOT NULL,
    fields       text[]      NOT NULL,
    legal_basis  text        NOT NULL,
    valid_from   date        NOT NULL,
    valid_until  date,
    revoked      boolean     NOT NULL DEFAULT false,
    revision     integer     NOT NULL,
    changed_at   timestamptz NOT NULL
);
CREATE INDEX agreements_partner ON agreements (partner_id);

CREATE TABLE referrals (
    referral_id  uuid PRIMARY KEY,
    case_id      uuid        NOT NULL,
    partner_id   text        NOT NULL,
    partner_type text        NOT NULL,
    purpose      text        NOT NULL,
    legal_basis  text        NOT NULL,
    status       text        NOT NULL,
    details      jsonb,                 -- minimised personal data; NULL after case.erased
    respond_by   timestamptz NOT NULL,
    resolve_by   timestamptz NOT NULL,
    requested_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX referrals_case ON referrals (case_id);

CREATE TABLE escalations (
    escalation_id uuid PRIMARY KEY,
    case_id       uuid        NOT NULL,
    level         text        NOT NULL,
    reason        text        NOT NULL,
    referral_id   uuid,
    raised_at     timestamptz NOT NULL
);
CREATE INDEX escalations_case ON escalations (case_id);
