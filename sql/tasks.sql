-- Tasks, always reached through their owner: every query has user_id in its WHERE clause.
-- The listing (filters, sort, keyset paging) is composed from fixed fragments in server/tasks/listing.py.
-- completed_at follows is_completed (the table CHECKs it); every change bumps version by one and
-- moves updated_at forward, even if the clock has not. {task_columns} stands for a task's columns
-- (TASK_COLUMNS in server/db/queries.py), written in as the queries load.

-- name: create_task(user_id, list_id, parent_id, title, description, priority, due_date, tags, is_completed, quota)^
-- The new task, last among its siblings, in list_id (null: the inbox) under parent_id (null: top
-- level; the caller has checked it); nothing when the list is not the user's, or the user
-- already has `quota` tasks.
INSERT INTO tasks (user_id, list_id, parent_id, title, description, priority, due_date, tags,
                   is_completed, completed_at)
SELECT :user_id, l.id, :parent_id, :title, :description, :priority, :due_date, :tags,
       :is_completed, CASE WHEN :is_completed THEN now() END
  FROM lists AS l
 WHERE l.user_id = :user_id
   AND CASE WHEN :list_id::uuid IS NULL THEN l.is_inbox ELSE l.id = :list_id END
   AND (SELECT count(*) FROM (SELECT FROM tasks WHERE user_id = :user_id LIMIT :quota) AS t)
       < :quota
RETURNING {task_columns};

-- name: get_task(user_id, id)^
-- The task, or nothing when it is missing or another user's.
SELECT {task_columns}
  FROM tasks
 WHERE user_id = :user_id AND id = :id;

-- name: task_version(user_id, id)$
-- The task's version, or null when it is missing or another user's (tells 404 from 412).
SELECT version FROM tasks WHERE user_id = :user_id AND id = :id;

-- name: update_task(user_id, id, versions, title, set_description, description, priority, set_due_date, due_date, tags, is_completed)^
-- The patched task (a null non-nullable field, or a false set_ flag, keeps the stored value), or
-- nothing when it is missing, another user's, or not at one of `versions` (null: any version).
UPDATE tasks
   SET title = coalesce(:title, title),
       description = CASE WHEN :set_description THEN :description ELSE description END,
       priority = coalesce(:priority, priority),
       due_date = CASE WHEN :set_due_date THEN :due_date ELSE due_date END,
       tags = coalesce(:tags, tags),
       is_completed = coalesce(:is_completed, is_completed),
       completed_at = CASE WHEN coalesce(:is_completed, is_completed)
                           THEN coalesce(completed_at, now()) END,
       version = version + 1,
       updated_at = greatest(now(), updated_at + interval '1 microsecond')
 WHERE user_id = :user_id AND id = :id
   AND (:versions::integer[] IS NULL OR version = ANY (:versions))
RETURNING {task_columns};

-- name: complete_task(user_id, id, versions, is_completed)^
-- The task with is_completed set (null: toggled), or nothing when it is missing, another
-- user's, or not at one of `versions` (null: any version). Completing it completes its open
-- descendants (the trigger of migration 0011).
UPDATE tasks
   SET is_completed = coalesce(:is_completed, NOT is_completed),
       completed_at = CASE WHEN coalesce(:is_completed, NOT is_completed)
                           THEN coalesce(completed_at, now()) END,
       version = version + 1,
       updated_at = greatest(now(), updated_at + interval '1 microsecond')
 WHERE user_id = :user_id AND id = :id
   AND (:versions::integer[] IS NULL OR version = ANY (:versions))
RETURNING {task_columns};

-- name: delete_task(user_id, id, versions)$
-- The deleted task's id, or null when it is missing, another user's, or not at one of
-- `versions` (null: any version).
DELETE FROM tasks
 WHERE user_id = :user_id AND id = :id
   AND (:versions::integer[] IS NULL OR version = ANY (:versions))
RETURNING id;

-- name: get_stats(user_id, list_id)^
-- The user's counts: total, completed, overdue (open and past due), per priority, and per tag
-- as a JSON array [{tag, count}] of the 100 most used tags, sorted by count desc then tag;
-- one statement, one snapshot. With list_id (else null), of that list's tasks only.
SELECT count(*) AS total,
       count(*) FILTER (WHERE is_completed) AS completed,
       count(*) FILTER (WHERE NOT is_completed AND due_date < now()) AS overdue,
       count(*) FILTER (WHERE priority = 'low') AS low,
       count(*) FILTER (WHERE priority = 'medium') AS medium,
       count(*) FILTER (WHERE priority = 'high') AS high,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('tag', tag, 'count', n) ORDER BY n DESC, tag),
                        '[]'::jsonb)
          FROM (SELECT tag, count(*) AS n
                  FROM tasks AS t, unnest(t.tags) AS tag
                 WHERE t.user_id = :user_id
                   AND (:list_id::uuid IS NULL OR t.list_id = :list_id)
                 GROUP BY tag
                 ORDER BY n DESC, tag
                 LIMIT 100) AS per_tag) AS tags
  FROM tasks
 WHERE user_id = :user_id
   AND (:list_id::uuid IS NULL OR list_id = :list_id);
