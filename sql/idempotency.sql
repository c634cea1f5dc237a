-- Idempotency-Key of task creation: per user, kept 24 hours. Claiming a key inserts its row
-- first, inside the creating transaction, so a concurrent request with the same key waits on
-- the primary key until the first commits (then replays) or rolls back (then claims it).

-- name: claim_idempotency_key(user_id, key, request_hash)^
-- The claimed key's row when this request is the first to use it (or its old use expired);
-- nothing when a live earlier request holds it.
INSERT INTO idempotency_keys (user_id, key, request_hash)
VALUES (:user_id, :key, :request_hash)
    ON CONFLICT (user_id, key) DO UPDATE
   SET request_hash = excluded.request_hash, task_id = NULL, response = NULL, created_at = now()
 WHERE idempotency_keys.created_at < now() - interval '24 hours'
RETURNING user_id, key;

-- name: get_idempotency_key(user_id, key)^
-- The earlier request's hash and the response it got.
SELECT request_hash, task_id, response
  FROM idempotency_keys
 WHERE user_id = :user_id AND key = :key;

-- name: record_idempotent_response(user_id, key, task_id, response)!
-- Keeps the task the claiming request created and the body it answered.
UPDATE idempotency_keys
   SET task_id = :task_id, response = :response
 WHERE user_id = :user_id AND key = :key;
