-- depends: runtime_0001_outbox_inbox
-- Events that came before the entity they are about (a complaint before its case): kept
-- here, NOT claimed in the inbox, and applied in their original order once the entity is
-- known (runtime.consumer). A row older than SAMENWIJK_CONSUMER_PARK_MAX_AGE_S goes to the
-- dead-letter topic with its reason.
CREATE TABLE parked_event (
    id            bigserial PRIMARY KEY,
    park_key      text        NOT NULL,   -- what it waits for, e.g. case:<uuid>
    event_id      text        NOT NULL UNIQUE,
    event_type    text        NOT NULL,
    event_time    timestamptz NOT NULL,   -- the CloudEvents time: the producer's order
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    key           bytea,
    value         bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    reason        text        NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0
);
CREATE INDEX parked_event_key ON parked_event (park_key, event_time, id);
CREATE INDEX parked_event_order ON parked_event (event_time, id);
