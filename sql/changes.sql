-- The change feed (SPEC §7). Every write of a user's task, list or comment takes the user's
-- next revision (the triggers of migrations 0020, 0040, 0043), and each change of a shared list a
-- member must hear takes the member's next revision in the member's log (0049), so "revision >
-- since" read up to a revision already committed (`upto`) is exactly the changes after since, in
-- commit order, each object once in its latest state. Deletions are tombstones (and a member
-- log's deletes).

-- name: sync_state(user_id)^
-- The user's committed revision, the oldest since the feed still answers (sync_horizon), and
-- whether the user has a member log (member_changes_after) to read besides their own objects.
SELECT revision, sync_horizon,
       EXISTS (SELECT FROM member_changes WHERE member_id = :user_id) AS member
  FROM users WHERE id = :user_id;

-- name: changes_after(user_id, since, upto, live_only, limit)
-- Up to `limit` changes with since < revision <= upto in revision order: tasks, lists and
-- comments as upserts (their columns; a comment in the trash with its task as a delete),
-- tombstones as deletes (unless live_only: a full sync, of what is live).
-- Each parameter is read as (SELECT :name::type), a value the planner does not see even when it
-- plans for a call's values: that plan then costs what the plan for any values costs, which
-- PostgreSQL keeps from the sixth call (the call's plans were priced lower by the range's
-- known size, and every read was planned again: tests/test_plans.py).
SELECT 'task' AS kind, 'upsert' AS op, id, revision, updated_at AS changed_at,
       user_id, title, description, is_completed, completed_at, priority, due_date, tags,
       list_id, parent_id, position, created_at, updated_at, version,
       due_on, recurrence, last_completed_at, reminders, created_by, assignee_id, completed_by,
       NULL AS name, NULL AS color, NULL::boolean AS is_inbox, NULL AS role,
       NULL::integer AS member_count,
       NULL::uuid AS task_id, NULL::jsonb AS author, NULL AS body
  FROM tasks
 WHERE user_id = (SELECT :user_id::uuid)
   AND revision > (SELECT :since::bigint) AND revision <= (SELECT :upto::bigint)
UNION ALL
SELECT 'list', 'upsert', id, revision, updated_at,
       user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, position, created_at, updated_at, version,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       name, color, is_inbox, 'owner',
       (SELECT count(*)::integer FROM list_members AS m WHERE m.list_id = lists.id),
       NULL, NULL, NULL
  FROM lists
 WHERE user_id = (SELECT :user_id::uuid)
   AND revision > (SELECT :since::bigint) AND revision <= (SELECT :upto::bigint)
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
 WHERE c.user_id = (SELECT :user_id::uuid)
   AND c.revision > (SELECT :since::bigint) AND c.revision <= (SELECT :upto::bigint)
   AND (c.deleted_at IS NULL OR NOT (SELECT :live_only::boolean))
UNION ALL
SELECT kind, 'delete', id, revision, changed_at,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL
  FROM tombstones
 WHERE user_id = (SELECT :user_id::uuid)
   AND revision > (SELECT :since::bigint) AND revision <= (SELECT :upto::bigint)
   AND NOT (SELECT :live_only::boolean)
 ORDER BY revision
 LIMIT (SELECT :limit::integer);

-- name: stream_state({token})^
-- What sync_state answers, with whether the access token's session still works (account_ok, the
-- account check of tokens.sql) and how many seconds its login family has left; nothing when the
-- account is gone. An event stream reads it before each delivery: one statement re-checks the
-- session and bounds the changes it may send to those committed before any revocation it missed.
-- (A personal access token's stream: its id is session_id, its expiry what it has left.)
SELECT revision, sync_horizon,
       EXISTS (SELECT FROM member_changes WHERE member_id = :user_id) AS member,
       {token_account_ok} AS account_ok,
       extract(epoch FROM coalesce(
           (SELECT f.expires_at FROM login_families f WHERE f.id = :session_id),
           (SELECT t.expires_at FROM access_tokens t WHERE t.id = :session_id)) - now()
       )::float8 AS session_left
FROM users WHERE id = :user_id;

-- name: member_changes_after(user_id, since, upto, live_only, limit)
-- What changes_after answers (the same columns), from the user's member log (migration 0049:
-- the shared lists' objects, on the user's own counter): an upsert with its object's state read
-- here (a member's list with the member's own position and role, and its member_count), a
-- delete with nothing.
SELECT c.kind, c.op, c.object_id AS id, c.revision,
       CASE WHEN c.op = 'delete' THEN c.changed_at
            ELSE coalesce(t.updated_at, l.updated_at, k.updated_at) END AS changed_at,
       coalesce(t.user_id, l.user_id) AS user_id, t.title, t.description, t.is_completed,
       t.completed_at, t.priority, t.due_date, t.tags, t.list_id, t.parent_id,
       coalesce(t.position, m.position) AS position,
       coalesce(t.created_at, l.created_at, k.created_at) AS created_at,
       coalesce(t.updated_at, l.updated_at, k.updated_at) AS updated_at,
       coalesce(t.version, l.version, k.version) AS version, t.due_on, t.recurrence,
       t.last_completed_at, t.reminders, t.created_by, t.assignee_id, t.completed_by,
       l.name, l.color, l.is_inbox, m.role,
       CASE WHEN l.id IS NOT NULL
            THEN (SELECT count(*)::integer FROM list_members AS x WHERE x.list_id = l.id)
       END AS member_count,
       k.task_id, (SELECT jsonb_build_object('id', u.id, 'name', u.name)
                     FROM users AS u WHERE u.id = k.author_id) AS author, k.body
  FROM member_changes AS c
  LEFT JOIN tasks AS t
    ON c.kind = 'task' AND c.op = 'upsert' AND t.id = c.object_id AND t.user_id = c.owner_id
  LEFT JOIN lists AS l
    ON c.kind = 'list' AND c.op = 'upsert' AND l.id = c.object_id AND l.user_id = c.owner_id
  LEFT JOIN list_members AS m ON m.list_id = l.id AND m.member_id = c.member_id
  LEFT JOIN comments AS k
    ON c.kind = 'comment' AND c.op = 'upsert' AND k.id = c.object_id AND k.user_id = c.owner_id
 WHERE c.member_id = :user_id AND c.revision > :since AND c.revision <= :upto
   AND (c.op = 'upsert' OR NOT :live_only)
 ORDER BY c.revision
 LIMIT :limit;
