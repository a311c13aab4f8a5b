-- depends: intake_0002_follow_and_retain
-- API clients carry their scopes (an admin client without `admin` is an ordinary reader) and
-- when their secret was last rotated; revoked_at (0002) is now set by the admin API.
ALTER TABLE api_clients
    ADD COLUMN scopes            text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN secret_rotated_at timestamptz;
UPDATE api_clients SET scopes = '{admin}' WHERE org_type = 'admin';
