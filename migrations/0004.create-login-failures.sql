-- Failed logins, counted per email and per client address over a sliding window.
-- Kept in PostgreSQL so the limit holds across workers and machines.
CREATE TABLE login_failures (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text        NOT NULL,
    client     text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);
CREATE INDEX login_failures_client_idx ON login_failures (client, failed_at);
