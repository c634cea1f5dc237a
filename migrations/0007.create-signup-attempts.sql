-- Signups per client address over the last hour: password work is admitted, not unbounded.
CREATE TABLE signup_attempts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client       text        NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX signup_attempts_client_idx ON signup_attempts (client, attempted_at);
CREATE INDEX signup_attempts_attempted_idx ON signup_attempts (attempted_at);
