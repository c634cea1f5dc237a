-- Comments on tasks (SPEC §11), keyed by the owner of the task's list (migration 0043). Each
-- statement a request starts with checks the account (the embedded token_account_ok) and the
-- caller's access to the task's list (list_role of migration 0041), answering both (account_ok,
-- caller_role: null when the caller belongs to no list holding the task, and then every other
-- column is null too); it writes nothing unless the caller's role reaches the operation's.
-- "Its author" and "its author or the list's owner" are decided here too, never by a handler.
-- A comment's columns, as the contract's Comment has them, come from COMMENT_COLUMNS
-- (server/db/queries.py; author: {id, name} as jsonb, null once the author's account is gone).

-- name: list_comments({token}, task_id, after_created_at, after_id, limit)
-- account_ok, caller_role, and the first `limit` comments of the task after the keyset
-- (after_created_at, after_id) (null: from the first), oldest first (none: one row of nulls
-- beside account_ok and caller_role).
WITH account AS (SELECT {token_account_ok} AS ok),
task AS (
  SELECT t.user_id, list_role(:user_id, t.user_id, t.list_id) AS role
    FROM account, tasks AS t
   WHERE account.ok AND t.id = :task_id
)
SELECT account.ok AS account_ok, task.role AS caller_role, page.*
  FROM account
  LEFT JOIN task ON task.role IS NOT NULL
  LEFT JOIN LATERAL (
    SELECT {comment_columns}
      FROM comments AS c
     WHERE role_reaches(task.role, :required_role)
       AND c.user_id = task.user_id AND c.task_id = :task_id AND c.deleted_at IS NULL
       AND (:after_created_at::timestamptz IS NULL
            OR (c.created_at, c.id) > (:after_created_at, :after_id::uuid))
     ORDER BY c.created_at, c.id
     LIMIT :limit
  ) AS page ON true
 ORDER BY page.created_at, page.id;

-- name: lock_comment_task({token}, task_id)^
-- account_ok, caller_role, and the owner of the task's list once the task is locked (null
-- when the caller may not see it, or when it was deleted while this waited for its lock): the
-- task stays locked until the transaction ends, so its comments are counted against the quota
-- one writer at a time, and a deletion of the task waits (and then takes the new comment to the
-- trash with it).
WITH account AS (SELECT {token_account_ok} AS ok),
task AS (
  SELECT t.id, t.user_id, list_role(:user_id, t.user_id, t.list_id) AS role
    FROM account, tasks AS t
   WHERE account.ok AND t.id = :task_id
),
locked AS (
  SELECT t.id FROM tasks AS t JOIN task ON t.id = task.id
   WHERE role_reaches(task.role, :required_role)
     FOR NO KEY UPDATE OF t
)
SELECT account.ok AS account_ok, task.role AS caller_role,
       CASE WHEN EXISTS (SELECT FROM locked) THEN task.user_id END AS owner_id
  FROM account LEFT JOIN task ON task.role IS NOT NULL;

-- name: create_comment(owner_id, task_id, author_id, body, quota)^
-- The new comment of the task (locked by lock_comment_task in this transaction), or nothing
-- when the task already has `quota` comments (those in the trash with it included).
WITH c AS (
  INSERT INTO comments (user_id, task_id, author_id, body)
  SELECT :owner_id, :task_id, :author_id, :body
   WHERE (SELECT count(*) FROM comments WHERE user_id = :owner_id AND task_id = :task_id)
         < :quota
  RETURNING *
)
SELECT {comment_columns} FROM c;

-- name: created_comment_state(user_id, task_id, id)^
-- What a retried create (Idempotency-Key) meets: whether the task is in a list of the caller's
-- (task_seen), and whether the comment `id` it made is still on it (live: neither deleted nor
-- in the trash with its task).
SELECT t.id IS NOT NULL AS task_seen,
       EXISTS (SELECT FROM comments AS c
                WHERE c.user_id = t.user_id AND c.task_id = t.id AND c.id = :id
                  AND c.deleted_at IS NULL) AS live
  FROM (SELECT) AS one
  LEFT JOIN tasks AS t
    ON t.id = :task_id AND list_role(:user_id, t.user_id, t.list_id) IS NOT NULL;

-- name: update_comment({token}, task_id, id, versions, body)^
-- account_ok, caller_role, and the comment with its new body (version grown by one), or null
-- when it is missing, not the caller's own (is_author false), or not at one of `versions`
-- (null: any). Beside it, the comment as this statement found it (seen_version: null when the
-- task has no such comment).
WITH account AS (SELECT {token_account_ok} AS ok),
task AS (
  SELECT t.user_id, list_role(:user_id, t.user_id, t.list_id) AS role
    FROM account, tasks AS t
   WHERE account.ok AND t.id = :task_id
),
seen AS (  -- locked: the version the update meets, after any concurrent write
  SELECT s.version, s.author_id IS NOT DISTINCT FROM :user_id::uuid AS is_author
    FROM task, comments AS s
   WHERE role_reaches(task.role, :required_role) AND s.user_id = task.user_id
     AND s.task_id = :task_id AND s.id = :id AND s.deleted_at IS NULL
     FOR NO KEY UPDATE OF s
),
c AS (
  UPDATE comments AS c
     SET body = :body,
         version = c.version + 1,
         updated_at = greatest(now(), c.updated_at + interval '1 microsecond')
    FROM task
   WHERE role_reaches(task.role, :required_role)
     AND c.user_id = task.user_id AND c.task_id = :task_id AND c.id = :id
     AND c.deleted_at IS NULL AND c.author_id = :user_id
     AND (:versions::integer[] IS NULL OR c.version = ANY (:versions))
  RETURNING c.*
)
SELECT account.ok AS account_ok, task.role AS caller_role,
       seen.version AS seen_version, seen.is_author, written.*
  FROM account
  LEFT JOIN task ON task.role IS NOT NULL
  LEFT JOIN seen ON true
  LEFT JOIN (SELECT {comment_columns} FROM c) AS written ON true;

-- name: delete_comment({token}, task_id, id)^
-- account_ok, caller_role, and the deleted comment's id, or null when the task has no such
-- comment, or the caller is neither its author nor the list's owner (may_delete false).
WITH account AS (SELECT {token_account_ok} AS ok),
task AS (
  SELECT t.user_id, list_role(:user_id, t.user_id, t.list_id) AS role
    FROM account, tasks AS t
   WHERE account.ok AND t.id = :task_id
),
seen AS (  -- locked: the comment the deletion meets, after any concurrent write
  SELECT s.author_id IS NOT DISTINCT FROM :user_id::uuid OR task.role = 'owner' AS may_delete
    FROM task, comments AS s
   WHERE role_reaches(task.role, :required_role) AND s.user_id = task.user_id
     AND s.task_id = :task_id AND s.id = :id AND s.deleted_at IS NULL
     FOR UPDATE OF s
),
gone AS (
  DELETE FROM comments AS c
   USING task
   WHERE role_reaches(task.role, :required_role)
     AND c.user_id = task.user_id AND c.task_id = :task_id AND c.id = :id
     AND c.deleted_at IS NULL
     AND (c.author_id = :user_id OR task.role = 'owner')
  RETURNING c.id
)
SELECT account.ok AS account_ok, task.role AS caller_role, seen.may_delete, gone.id
  FROM account
  LEFT JOIN task ON task.role IS NOT NULL
  LEFT JOIN seen ON true
  LEFT JOIN gone ON true;
