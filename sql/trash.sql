-- The trash (SPEC §7): deleted tasks, kept TRASH_RETENTION_DAYS. A task reaches it by any DELETE
-- FROM tasks (the trigger of migration 0020), its descendants by the parent_id cascade, with the
-- same deleted_at: one deletion is restored or purged together.

-- name: trash_page(user_id, limit, offset, after_deleted_at, after_id)
-- One page of the trash, newest deletion first (ties by id desc), after the keyset
-- (after_deleted_at, after_id) when given, each row with the count of the whole trash.
SELECT {task_columns}, deleted_at, count(*) OVER () AS total
  FROM trash
 WHERE user_id = :user_id
   AND (:after_deleted_at::timestamptz IS NULL
        OR (deleted_at, id) < (:after_deleted_at, :after_id::uuid))
 ORDER BY deleted_at DESC, id DESC
 LIMIT :limit OFFSET :offset;

-- name: trash_total(user_id)$
-- How many tasks the user's trash holds.
SELECT count(*) FROM trash WHERE user_id = :user_id;

-- name: lock_task_count(user_id)$
-- The user's count of tasks, the trash included (migration 0032), its row locked: taken before
-- any task, trash or list row by whatever changes the count (restore, purge, empty).
SELECT tasks FROM task_counts WHERE user_id = :user_id FOR UPDATE;

-- name: restore_task(user_id, id)^
-- The restored task (its version grown by one), with the descendants deleted with it: into its
-- list (the inbox if that list is gone), under its parent (top level if the parent is not live),
-- last among its new siblings; nothing when the trash holds no such task of the user.
WITH RECURSIVE deletion AS (
    SELECT t.*, 0 AS depth FROM trash AS t WHERE t.user_id = :user_id AND t.id = :id
    UNION ALL
    SELECT c.*, d.depth + 1
      FROM trash AS c JOIN deletion AS d ON c.parent_id = d.id AND c.deleted_at = d.deleted_at
     WHERE c.user_id = :user_id
), home AS (
    SELECT parent.id AS parent_id, coalesce(parent.list_id, own.id, inbox.id) AS list_id
      FROM deletion AS d
      JOIN lists AS inbox ON inbox.user_id = :user_id AND inbox.is_inbox
      LEFT JOIN tasks AS parent ON parent.user_id = :user_id AND parent.id = d.parent_id
      LEFT JOIN lists AS own ON own.user_id = :user_id AND own.id = d.list_id
     WHERE d.depth = 0
), gone AS (
    DELETE FROM trash WHERE user_id = :user_id AND id IN (SELECT id FROM deletion)
), unburied AS (
    DELETE FROM tombstones WHERE user_id = :user_id AND id IN (SELECT id FROM deletion)
), restored AS (
    INSERT INTO tasks (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version, due_on, recurrence, last_completed_at, recurrence_done, reminders)
    SELECT d.id, d.user_id, home.list_id,
           CASE WHEN d.depth = 0 THEN home.parent_id ELSE d.parent_id END,
           d.title, d.description, d.is_completed, d.completed_at, d.priority, d.due_date, d.tags,
           CASE WHEN d.depth = 0 THEN next_position() ELSE d.position END,
           d.created_at, greatest(now(), d.updated_at + interval '1 microsecond'), d.version + 1,
           d.due_on, d.recurrence, d.last_completed_at, d.recurrence_done, d.reminders
      FROM deletion AS d, home
    RETURNING {task_columns}
)
SELECT * FROM restored WHERE id = :id;

-- name: purge_trashed(user_id, id)$
-- How many tasks were purged: the trashed task and the descendants deleted with it.
WITH RECURSIVE deletion AS (
    SELECT id, deleted_at FROM trash WHERE user_id = :user_id AND id = :id
    UNION ALL
    SELECT c.id, c.deleted_at
      FROM trash AS c JOIN deletion AS d ON c.parent_id = d.id AND c.deleted_at = d.deleted_at
     WHERE c.user_id = :user_id
), gone AS (
    DELETE FROM trash WHERE user_id = :user_id AND id IN (SELECT id FROM deletion) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: empty_trash(user_id)$
-- How many tasks the emptied trash held.
WITH gone AS (DELETE FROM trash WHERE user_id = :user_id RETURNING 1)
SELECT count(*) FROM gone;

-- name: clear_completed(user_id, list_id)!
-- Moves the completed tasks (of list_id, else of every list) to the trash, their descendants
-- with them (the cascade).
DELETE FROM tasks
 WHERE user_id = :user_id AND is_completed AND (:list_id::uuid IS NULL OR list_id = :list_id);

-- name: trashed_now(user_id)$
-- How many of the user's tasks this transaction moved to the trash (they share its now()).
SELECT count(*) FROM trash WHERE user_id = :user_id AND deleted_at = now();
