-- The trash (SPEC §7): deleted tasks, kept TRASH_RETENTION_DAYS. A task reaches it by any DELETE
-- FROM tasks (the trigger of migration 0020), its descendants by the parent_id cascade, with the
-- same deleted_at: one deletion is restored or purged together.
--
-- A deletion is found from its root without recursion: the user's trashed tasks of the root's
-- deleted_at whose chain of parents (within that deleted_at, at most three steps up: SPEC §6's
-- four levels) reaches the root. Each step is a lookup by primary key, which no estimate can
-- turn quadratic; a recursive walk down was planned from the trash's statistics, which a
-- deletion of many children of one parent skews (one parent_id, one deleted_at): joining the
-- whole deletion to each step, or scanning it for each task, a restore of 6,000 took 12-30 s.

-- name: trash_page(user_id, role, limit, offset, after_deleted_at, after_id)
-- One page of the trash the user sees (their own, and that of each list shared with them where
-- their role reaches `role`: list_trash's x-required-role), newest deletion first (ties by id
-- desc), after the keyset (after_deleted_at, after_id) when given, each row with the count of
-- the whole of it (before the keyset: a page after a cursor counted only what followed it).
WITH seen AS MATERIALIZED (
  SELECT * FROM trash WHERE user_id = :user_id
  UNION ALL
  SELECT t.* FROM list_members AS m
    JOIN trash AS t ON t.user_id = m.owner_id AND t.list_id = m.list_id
   WHERE m.member_id = :user_id AND role_reaches(m.role, :role)
)
SELECT {task_columns}, deleted_at, (SELECT count(*) FROM seen) AS total
  FROM seen
 WHERE (:after_deleted_at::timestamptz IS NULL
        OR (deleted_at, id) < (:after_deleted_at, :after_id::uuid))
 ORDER BY deleted_at DESC, id DESC
 LIMIT :limit OFFSET :offset;

-- name: trash_total(user_id, role)$
-- How many tasks the trash the user sees holds (as trash_page).
SELECT (SELECT count(*) FROM trash WHERE user_id = :user_id)
     + (SELECT count(*) FROM list_members AS m
          JOIN trash AS t ON t.user_id = m.owner_id AND t.list_id = m.list_id
         WHERE m.member_id = :user_id AND role_reaches(m.role, :role));

-- name: trashed_task({token}, id)^
-- account_ok, the caller's role on the list of the trashed task `id` (caller_role: null when
-- the trash holds no such task of a list the caller belongs to), and its owner when that role
-- reaches :required_role (else null).
WITH account AS (SELECT {token_account_ok} AS ok),
found AS (
  SELECT user_id, list_role(:user_id, user_id, list_id) AS role FROM trash
   WHERE (SELECT ok FROM account) AND id = :id
     AND list_role(:user_id, user_id, list_id) IS NOT NULL
)
SELECT account.ok AS account_ok, found.role AS caller_role,
       CASE WHEN role_reaches(found.role, :required_role) THEN found.user_id END AS owner_id
  FROM account LEFT JOIN found ON true;

-- name: lock_task_count(user_id)$
-- The user's count of tasks, the trash included (migration 0032), its row locked: taken before
-- any task, trash or list row by whatever changes the count (restore, purge, empty).
SELECT tasks FROM task_counts WHERE user_id = :user_id FOR UPDATE;

-- name: restore_home(user_id, id)^
-- Where the trashed task could go back, as server/sync/restore.py decides: the height of its
-- deletion (1: no descendants), its parent if live (id, list, level: 1 at the top, at most 8
-- counted), whether its own list is live, and the inbox; nothing when the trash holds no such
-- task of the user. Those lists are locked against deletion until the transaction ends.
WITH RECURSIVE
    deletion (id, depth) AS (
        SELECT t.id, CASE r.id WHEN t.id THEN 1 WHEN p1.id THEN 2 WHEN p2.id THEN 3 ELSE 4 END
          FROM trash AS r
          JOIN trash AS t ON t.user_id = r.user_id AND t.deleted_at = r.deleted_at
          LEFT JOIN trash AS p1 ON p1.id = t.parent_id AND p1.deleted_at = r.deleted_at
          LEFT JOIN trash AS p2 ON p2.id = p1.parent_id AND p2.deleted_at = r.deleted_at
          LEFT JOIN trash AS p3 ON p3.id = p2.parent_id AND p3.deleted_at = r.deleted_at
         WHERE r.user_id = :user_id AND r.id = :id AND r.id IN (t.id, p1.id, p2.id, p3.id)
    ),
    root AS (SELECT parent_id, list_id FROM trash WHERE user_id = :user_id AND id = :id),
    parent AS (
        SELECT t.id, t.list_id FROM tasks AS t JOIN root ON t.id = root.parent_id
         WHERE t.user_id = :user_id
    ),
    ancestry (id, parent_id, steps) AS (
        SELECT id, parent_id, 1 FROM tasks
         WHERE user_id = :user_id AND id = (SELECT id FROM parent)
        UNION ALL
        SELECT t.id, t.parent_id, a.steps + 1
          FROM tasks AS t JOIN ancestry AS a ON t.id = a.parent_id
         WHERE t.user_id = :user_id AND a.steps < 8
    ),
    homes AS (
        SELECT id, is_inbox FROM lists
         WHERE user_id = :user_id
           AND (is_inbox OR id = (SELECT list_id FROM root) OR id = (SELECT list_id FROM parent))
         ORDER BY id
           FOR KEY SHARE
    )
SELECT (SELECT max(depth) FROM deletion) AS height,
       (SELECT id FROM parent) AS parent_id,
       (SELECT list_id FROM parent) AS parent_list_id,
       (SELECT count(*) FROM ancestry) AS parent_level,
       (SELECT id FROM homes WHERE id = root.list_id) AS list_id,
       (SELECT id FROM homes WHERE is_inbox) AS inbox_id
  FROM root;

-- name: restore_task(user_id, id, list_id, parent_id)^
-- The restored task (its version grown by one), with the descendants deleted with it, all in
-- list_id, the task under parent_id (null: top level) last among its siblings, each descendant
-- where it was; nothing when the trash holds no such task of the user. What comes back is
-- what this statement took out of the trash.
WITH deletion AS (
    SELECT t.id
      FROM trash AS r
      JOIN trash AS t ON t.user_id = r.user_id AND t.deleted_at = r.deleted_at
      LEFT JOIN trash AS p1 ON p1.id = t.parent_id AND p1.deleted_at = r.deleted_at
      LEFT JOIN trash AS p2 ON p2.id = p1.parent_id AND p2.deleted_at = r.deleted_at
      LEFT JOIN trash AS p3 ON p3.id = p2.parent_id AND p3.deleted_at = r.deleted_at
     WHERE r.user_id = :user_id AND r.id = :id AND r.id IN (t.id, p1.id, p2.id, p3.id)
), gone AS (
    DELETE FROM trash WHERE user_id = :user_id AND id = ANY (ARRAY(SELECT id FROM deletion))
    RETURNING *
), unburied AS (
    DELETE FROM tombstones WHERE user_id = :user_id AND id = ANY (ARRAY(SELECT id FROM gone))
), restored AS (
    INSERT INTO tasks (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version, due_on, recurrence, last_completed_at, recurrence_done, reminders,
                       created_by, assignee_id, completed_by)
    SELECT g.id, g.user_id, :list_id,
           CASE WHEN g.id = :id THEN :parent_id::uuid ELSE g.parent_id END,
           g.title, g.description, g.is_completed, g.completed_at, g.priority, g.due_date, g.tags,
           CASE WHEN g.id = :id THEN next_position() ELSE g.position END,
           g.created_at, greatest(now(), g.updated_at + interval '1 microsecond'), g.version + 1,
           g.due_on, g.recurrence, g.last_completed_at, g.recurrence_done, g.reminders,
           g.created_by, g.assignee_id, g.completed_by
      FROM gone AS g
    RETURNING {task_columns}
)
SELECT * FROM restored WHERE id = :id;

-- name: purge_trashed(user_id, id)$
-- How many tasks were purged: the trashed task and the descendants deleted with it.
WITH deletion AS (
    SELECT t.id
      FROM trash AS r
      JOIN trash AS t ON t.user_id = r.user_id AND t.deleted_at = r.deleted_at
      LEFT JOIN trash AS p1 ON p1.id = t.parent_id AND p1.deleted_at = r.deleted_at
      LEFT JOIN trash AS p2 ON p2.id = p1.parent_id AND p2.deleted_at = r.deleted_at
      LEFT JOIN trash AS p3 ON p3.id = p2.parent_id AND p3.deleted_at = r.deleted_at
     WHERE r.user_id = :user_id AND r.id = :id AND r.id IN (t.id, p1.id, p2.id, p3.id)
), gone AS (
    DELETE FROM trash WHERE user_id = :user_id AND id = ANY (ARRAY(SELECT id FROM deletion))
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: empty_trash(user_id)$
-- How many tasks the emptied trash held.
WITH gone AS (DELETE FROM trash WHERE user_id = :user_id RETURNING 1)
SELECT count(*) FROM gone;

-- name: clear_completed({token}, list_id)^
-- account_ok, the caller's role on list_id (caller_role: null without one, or when the caller
-- belongs to no such list) and whose tasks were cleared (owner_id); moves the completed tasks
-- of list_id (when the role reaches :required_role), else of every list of the caller's own,
-- to the trash, their descendants with them (the cascade). The list's row is key-share locked
-- (the order a list's deletion takes: the list, then its tasks): a deletion committing first
-- leaves no list here (no role), rather than a list whose tasks are gone (200, none cleared).
WITH account AS (SELECT {token_account_ok} AS ok),
target AS (
  SELECT l.user_id, l.id, list_role(:user_id, l.user_id, l.id) AS role FROM lists AS l
   WHERE (SELECT ok FROM account) AND l.id = :list_id
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
     FOR KEY SHARE OF l
),
gone AS (
  DELETE FROM tasks
   WHERE (SELECT ok FROM account) AND is_completed
     AND CASE WHEN :list_id::uuid IS NULL THEN user_id = :user_id
              ELSE (user_id, list_id) = (SELECT user_id, id FROM target
                                          WHERE role_reaches(role, :required_role)) END
  RETURNING 1
)
SELECT account.ok AS account_ok, (SELECT role FROM target) AS caller_role,
       coalesce((SELECT user_id FROM target), :user_id) AS owner_id
  FROM account;

-- name: trashed_now(user_id)$
-- How many of the user's tasks this transaction moved to the trash (they share its now()).
SELECT count(*) FROM trash WHERE user_id = :user_id AND deleted_at = now();
