-- depends: referral_0001_referrals
-- The case as intake opened it (to reroute after a decline); opened is NULL after case.erased.
CREATE TABLE cases (
    case_id    uuid PRIMARY KEY,
    region     text        NOT NULL,
    category   text        NOT NULL,
    status     text        NOT NULL DEFAULT 'open',   -- open | closed
    opened     jsonb,
    updated_at timestamptz NOT NULL
);

-- Which rule route a referral fills, so a decline can go to the route's next partner.
ALTER TABLE referrals ADD COLUMN rule_name text, ADD COLUMN route_type text, ADD COLUMN option_index integer;
CREATE INDEX referrals_route ON referrals (case_id, rule_name, route_type);

ALTER TABLE escalations
    ADD COLUMN ladder           text,
    ADD COLUMN step             integer,
    ADD COLUMN owner_partner_id text,
    ADD COLUMN resolved_at      timestamptz;
-- The repeat threshold moves a case up once.
CREATE UNIQUE INDEX escalations_repeat_once ON escalations (case_id) WHERE reason LIKE 'repeat threshold%';

-- Durable timers: a deadline fires once. The timer job claims due rows with
-- FOR UPDATE SKIP LOCKED in the transaction that writes the escalation to the outbox.
CREATE TABLE timers (
    timer_id      bigserial PRIMARY KEY,
    kind          text        NOT NULL,   -- respond | resolve | ladder
    case_id       uuid        NOT NULL,
    referral_id   uuid,
    escalation_id uuid,
    due_at        timestamptz NOT NULL,
    fired_at      timestamptz
);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;
CREATE INDEX timers_case ON timers (case_id);
