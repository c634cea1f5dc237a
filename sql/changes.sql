-- The change feed (SPEC §7). Every write of a user's task, list or comment takes the user's
-- next revision (the triggers of migrations 0020, 0040, 0043), so "revision > since" read up to
-- a revision already committed (`upto`) is exactly the changes after since, in commit order,
-- each object once in its latest state. Deletions are tombstones.

-- name: sync_state(user_id)^
-- The user's committed revision and the oldest since the feed still answers (sync_horizon).
SELECT revision, sync_horizon FROM users WHERE id = :user_id;

-- name: changes_after(user_id, since, upto, live_only, limit)
-- Up to `limit` changes with since < revision <= upto in revision order: tasks, lists and
-- comments as upserts (their columns; a comment in the trash with its task as a delete),
-- tombstones as deletes (unless live_only: a full sync, of what is live).
SELECT 'task' AS kind, 'upsert' AS op, id, revision, updated_at AS changed_at,
       user_id, title, description, is_completed, completed_at, priority, due_date, tags,
       list_id, parent_id, position, created_at, updated_at, version,
       due_on, recurrence, last_completed_at, reminders, created_by, assignee_id, completed_by,
       NULL AS name, NULL AS color, NULL::boolean AS is_inbox, NULL AS role,
       NULL::integer AS member_count,
       NULL::uuid AS task_id, NULL::jsonb AS author, NULL AS body
  FROM tasks
 WHERE user_id = :user_id AND revision > :since AND revision <= :upto
UNION ALL
SELECT 'list', 'upsert', id, revision, updated_at,
       user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, position, created_at, updated_at, version,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       name, color, is_inbox, 'owner',
       (SELECT count(*)::integer FROM list_members AS m WHERE m.list_id = lists.id),
       NULL, NULL, NULL
  FROM lists
 WHERE user_id = :user_id AND revision > :since AND revision <= :upto
UNION ALL
SELECT 'comment', CASE WHEN c.deleted_at IS NULL THEN 'upsert' ELSE 'delete' END, c.id,
       c.revision, coalesce(c.deleted_at, c.updated_at),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, c.created_at, c.updated_at, c.version,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL,
       c.task_id, (SELECT jsonb_build_object('id', u.id, 'name', u.name)
                     FROM users AS u WHERE u.id = c.author_id), c.body
  FROM comments AS c
 WHERE c.user_id = :user_id AND c.revision > :since AND c.revision <= :upto
   AND (c.deleted_at IS NULL OR NOT :live_only)
UNION ALL
SELECT kind, 'delete', id, revision, changed_at,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL
  FROM tombstones
 WHERE user_id = :user_id AND revision > :since AND revision <= :upto AND NOT :live_only
 ORDER BY revision
 LIMIT :limit;

-- name: stream_state({token})^
-- What sync_state answers, with whether the access token's session still works (account_ok, the
-- account check of tokens.sql) and how many seconds its login family has left; nothing when the
-- account is gone. An event stream reads it before each delivery: one statement re-checks the
-- session and bounds the changes it may send to those committed before any revocation it missed.
SELECT revision, sync_horizon, {token_account_ok} AS account_ok,
       (SELECT extract(epoch FROM f.expires_at - now())::float8
          FROM login_families f WHERE f.id = :session_id) AS session_left
FROM users WHERE id = :user_id;
