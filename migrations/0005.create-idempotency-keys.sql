-- depends: 0002.create-tasks
-- Idempotency-Key of task creation: per user, kept 24 hours; request_hash tells a retry
-- from a different request that reuses the key.
CREATE TABLE idempotency_keys (
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    task_id      uuid        REFERENCES tasks (id) ON DELETE SET NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
