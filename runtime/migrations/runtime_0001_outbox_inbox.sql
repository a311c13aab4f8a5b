-- Runtime tables every service database has: outbox, inbox, dead letters, processing log.

-- The outbox is also the service's own event log: rows are kept after publishing, so a
-- lost broker can be refilled by setting published_at back to NULL.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text        NOT NULL,
    key          bytea,
    value        bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Wake the relay on commit (NOTIFY is delivered only when the transaction commits).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Handled event ids, written in the same transaction as the handler's effect.
CREATE TABLE inbox (
    event_id   text PRIMARY KEY,
    event_type text,
    handled_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letter (
    id          bigserial PRIMARY KEY,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    key         bytea,
    value       bytea,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Processing log (VNG Verwerkingenlogging / Logius Logboek Dataverwerkingen in spirit):
-- identifiers only, never the personal data itself. Append-only.
CREATE TABLE processing_log (
    id              bigserial PRIMARY KEY,
    logged_at       timestamptz NOT NULL DEFAULT now(),
    action          text        NOT NULL,
    outcome         text        NOT NULL,
    organisation_id text        NOT NULL,
    user_id         text,
    case_id         uuid,
    referral_id     uuid,
    purpose         text,
    legal_basis     text,
    confidentiality text        NOT NULL DEFAULT 'confidential',
    trace_id        text
);
CREATE INDEX processing_log_case ON processing_log (case_id, logged_at);

CREATE FUNCTION processing_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'processing_log is append-only';
END $$;
CREATE TRIGGER processing_log_append_only BEFORE UPDATE OR DELETE ON processing_log
    FOR EACH ROW EXECUTE FUNCTION processing_log_append_only();
