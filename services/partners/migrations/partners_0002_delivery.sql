-- depends: partners_0001_registry

-- A referral's life after acceptance: progress notes and the outcome (personal data: erased
-- with the case).
ALTER TABLE referrals ADD COLUMN progress jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE referrals ADD COLUMN outcome text;
CREATE INDEX referrals_status ON referrals (status, requested_at DESC);

-- Which corporation a case belongs to (from case.opened), so a corporation may read the
-- processing log of its own cases only.
CREATE TABLE case_owners (
    case_id        uuid PRIMARY KEY,
    corporation_id text NOT NULL
);

-- One webhook per partner. The secret is stored encrypted (Fernet, key from the service's
-- settings) and is shown once, when the subscription is made.
CREATE TABLE webhook_subscriptions (
    partner_id       text PRIMARY KEY REFERENCES partners,
    url              text        NOT NULL,
    secret_encrypted bytea       NOT NULL,
    -- the partner's own retry schedule, if agreed (NULL: the service's settings)
    retry_initial_seconds  double precision,
    retry_max_seconds      double precision,
    retry_give_up_seconds  double precision,
    created_at       timestamptz NOT NULL
);

-- Durable webhook deliveries: at-least-once, driven by the delivery job.
CREATE TABLE webhook_deliveries (
    delivery_id     uuid PRIMARY KEY,            -- also the CloudEvent id: receivers dedupe on it
    partner_id      text        NOT NULL,
    case_id         uuid        NOT NULL,
    referral_id     uuid,
    purpose         text,                        -- checked against the current agreement at each attempt
    legal_basis     text,
    event_type      text        NOT NULL,
    body            bytea,                       -- the CloudEvent as sent; personal data, erased with the case
    status          text        NOT NULL,        -- pending | delivered | dead | held | erased
    attempts        integer     NOT NULL DEFAULT 0,
    window_start    timestamptz NOT NULL,        -- retries are given up a configured time after this
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, created_at DESC);
CREATE INDEX webhook_deliveries_case ON webhook_deliveries (case_id);
