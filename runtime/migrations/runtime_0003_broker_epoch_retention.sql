-- depends: runtime_0002_parked_events
-- The broker epoch this service's outbox was last published to (runtime.recovery): a
-- broker with another epoch lost its state and gets the outbox again.
CREATE TABLE broker_epoch (
    singleton boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     text        NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now()
);

-- Retention (runtime.retention): published outbox rows older than the refill window move
-- here, and are deleted after the archive period; inbox ids are kept longer than any
-- event can come again.
CREATE TABLE outbox_archive (
    id           bigint      PRIMARY KEY,
    topic        text        NOT NULL,
    key          bytea,
    value        bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_archive_created ON outbox_archive (created_at);
CREATE INDEX outbox_archive_key ON outbox_archive (key);
CREATE INDEX outbox_published_created ON outbox (created_at) WHERE published_at IS NOT NULL;
CREATE INDEX inbox_handled ON inbox (handled_at);
