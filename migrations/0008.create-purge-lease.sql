-- depends: 0004.create-login-failures 0005.create-idempotency-keys
-- The purger's lease: whichever worker holds it (until `leased_until`) is the cluster's one
-- purger; a row, not a session lock, so it works through PgBouncer's transaction pooling too.
CREATE TABLE purge_lease (
    name         text        PRIMARY KEY,
    holder       text        NOT NULL,
    leased_until timestamptz NOT NULL
);

INSERT INTO purge_lease (name, holder, leased_until) VALUES ('purger', '', '-infinity');

-- What the purges look for: expired refresh tokens and failures that left the window.
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX login_failures_failed_idx ON login_failures (failed_at);
