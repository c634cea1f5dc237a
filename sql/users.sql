-- name: create_user(email, name, password_hash)^
-- The new account (a second account for the same email, in any letter case, is a unique violation).
INSERT INTO users (email, name, password_hash)
VALUES (:email, :name, :password_hash)
RETURNING {user_columns};

-- name: get_user(id)^
-- The account with this id, without its password hash.
SELECT {user_columns}
FROM users
WHERE id = :id;

-- name: get_login(email)^
-- The account with this email in any letter case, with its password hash.
SELECT {user_columns}, password_hash
FROM users
WHERE lower(email) = lower(:email);

-- name: get_credentials(id)^
-- The email and password hash of the account with this id.
SELECT email, password_hash FROM users WHERE id = :id;

-- name: update_user(id, name, timezone, notify_email, notify_push)^
-- The account with its new name, zone and notifications (null keeps each), or nothing when it no
-- longer exists. A new zone moves the end of each all-day task's day (trigger of migration 0030);
-- those tasks are locked first, in id order, as every writer of a task locks it before the
-- account's row (at its commit stamp): taken the other way round, the two waited for each other.
WITH moved AS (
  SELECT count(*) AS n
    FROM (SELECT FROM tasks
           WHERE user_id = :id AND due_on IS NOT NULL AND :timezone::text IS NOT NULL
           ORDER BY id FOR NO KEY UPDATE) AS held
)
UPDATE users
SET name = coalesce(:name, name), timezone = coalesce(:timezone, timezone),
    notify_email = coalesce(:notify_email, notify_email),
    notify_push = coalesce(:notify_push, notify_push), updated_at = now()
WHERE id = :id AND (SELECT n FROM moved) >= 0
RETURNING {user_columns};

-- name: time_zones()
-- The names of the time zones PostgreSQL knows (read once per process: the view reads its files).
SELECT name FROM pg_timezone_names;

-- name: replace_password_hash(id, old_hash, new_hash)$
-- The account's id when its hash was still old_hash and is now new_hash, else nothing.
UPDATE users
SET password_hash = :new_hash, updated_at = now()
WHERE id = :id AND password_hash = :old_hash
RETURNING id;

-- name: delete_user(id, password_hash)$
-- The deleted account's id when its hash was still password_hash (tasks, tokens and push
-- subscriptions cascade); its mails not yet sent go with it (a reminder, a reset link).
WITH gone AS (
    DELETE FROM users WHERE id = :id AND password_hash = :password_hash RETURNING id
), unsent AS (
    DELETE FROM outbox
     WHERE sent_at IS NULL AND failed_at IS NULL AND channel = 'mail'
       AND payload->>'user_id' = (SELECT id::text FROM gone)
)
SELECT id FROM gone;

-- name: lock_user(id)$
-- The account's password hash, its row locked until the transaction ends; token writes that must
-- see all of a user's tokens take this lock first (see tokens.sql).
SELECT password_hash FROM users WHERE id = :id FOR NO KEY UPDATE;
