-- depends: reporting_0004_building_ref
-- Dashboard sign-ins: the browser holds a random session id (its hash is kept here), never
-- the bearer token; the token is checked once at sign-in and not stored.
CREATE TABLE dashboard_sessions (
    session_hash    text PRIMARY KEY,
    organisation_id text        NOT NULL,
    org_type        text        NOT NULL,
    scopes          text[]      NOT NULL,
    csrf_token      text        NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
