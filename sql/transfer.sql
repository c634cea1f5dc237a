-- Export and import (SPEC §13). An export reads the account's lists, tasks and comments (the
-- trash too); an import writes a whole document in one transaction: its lists, then its tasks,
-- its trashed tasks and its comments, each set in statements of one jsonb array (10,000 tasks
-- are a few inserts, not 10,000 round trips). Positions come from import_positions, in the
-- document's order.

-- name: export_lists(user_id)
-- The user's lists in manual order.
SELECT id, name, color, is_inbox FROM lists WHERE user_id = :user_id ORDER BY position;

-- name: export_tasks(user_id)
-- The user's live tasks, then the trashed ones (deleted_at set), each with its position.
SELECT id, list_id, parent_id, position, title, description, priority, is_completed,
       completed_at, due_date, due_on, tags, recurrence, reminders, last_completed_at,
       recurrence_done, created_at, NULL::timestamptz AS deleted_at
  FROM tasks WHERE user_id = :user_id
UNION ALL
SELECT id, list_id, parent_id, position, title, description, priority, is_completed,
       completed_at, due_date, due_on, tags, recurrence, reminders, last_completed_at,
       recurrence_done, created_at, deleted_at
  FROM trash WHERE user_id = :user_id;

-- name: export_comments(user_id)
-- The comments of the user's tasks, live and trashed, oldest first: by_owner when the user wrote
-- it, else the author's name (the account's, or the name an import kept; null once it is gone).
SELECT c.id, c.task_id, c.body, c.created_at, c.updated_at,
       c.author_id IS NOT DISTINCT FROM :user_id::uuid AS by_owner,
       CASE WHEN c.author_id IS DISTINCT FROM :user_id::uuid
            THEN coalesce((SELECT u.name FROM users AS u WHERE u.id = c.author_id), c.author_name)
       END AS author_name
  FROM comments AS c
 WHERE c.user_id = :user_id
 ORDER BY c.created_at, c.id;

-- name: import_room(user_id)^
-- The user's inbox (id, name) and how many lists the user has (taken under the placement lock and
-- lock_task_count, which an import holds first).
SELECT i.id AS inbox_id, i.name AS inbox_name,
       (SELECT count(*) FROM lists WHERE user_id = :user_id) AS lists
  FROM lists AS i
 WHERE i.user_id = :user_id AND i.is_inbox;

-- name: import_positions(count)$
-- `count` new positions, each after every position made before, in byte order.
SELECT coalesce(array_agg(p ORDER BY p COLLATE "C"), '{}')
  FROM (SELECT next_position() AS p FROM generate_series(1, :count)) AS made;

-- name: stamp_each_statement()!
-- Nothing: from here to the transaction's end, each statement stamps the revisions of what it
-- wrote at its own end (the deferred stamp_revisions of migration 0040 made immediate), under
-- its statement_timeout, rather than every row's at COMMIT, which no statement_timeout bounds.
SET CONSTRAINTS ALL IMMEDIATE;

-- name: import_lists(user_id, lists)!
-- Makes the lists of a jsonb array of {id, name, color, position}.
INSERT INTO lists (id, user_id, name, color, position)
SELECT r.id, :user_id, r.name, r.color, r.position
  FROM jsonb_to_recordset(:lists::jsonb) AS r(id uuid, name text, color text, position text);

-- name: import_tasks(user_id, tasks)!
-- Makes the live tasks of a jsonb array (a parent before its children is not needed: the
-- parent_id key is checked at the statement's end).
INSERT INTO tasks (id, user_id, list_id, parent_id, position, title, description, priority,
                   is_completed, completed_at, due_date, due_on, tags, recurrence, reminders,
                   last_completed_at, recurrence_done, created_at)
SELECT r.id, :user_id, r.list_id, r.parent_id, r.position, r.title, r.description, r.priority,
       r.is_completed, r.completed_at, r.due_date, r.due_on, r.tags, r.recurrence, r.reminders,
       r.last_completed_at, r.recurrence_done, coalesce(r.created_at, now())
  FROM jsonb_to_recordset(:tasks::jsonb) AS r(
         id uuid, list_id uuid, parent_id uuid, position text, title text, description text,
         priority text, is_completed boolean, completed_at timestamptz, due_date timestamptz,
         due_on date, tags text[], recurrence jsonb, reminders jsonb,
         last_completed_at timestamptz, recurrence_done integer, created_at timestamptz);

-- name: import_trash(user_id, tasks)$
-- How many trashed tasks were made from a jsonb array (as import_tasks' with deleted_at, never
-- later than now), the user's count of tasks grown by as many (the trash counts: 0032).
WITH made AS (
  INSERT INTO trash (id, user_id, list_id, parent_id, position, title, description, priority,
                     is_completed, completed_at, due_date, due_on, tags, recurrence, reminders,
                     last_completed_at, recurrence_done, created_at, updated_at, version,
                     deleted_at)
  SELECT r.id, :user_id, r.list_id, r.parent_id, r.position, r.title, r.description,
         r.priority, r.is_completed, r.completed_at, r.due_date, r.due_on, r.tags,
         r.recurrence, r.reminders, r.last_completed_at, r.recurrence_done,
         coalesce(r.created_at, now()), now(), 1, least(r.deleted_at, now())
    FROM jsonb_to_recordset(:tasks::jsonb) AS r(
           id uuid, list_id uuid, parent_id uuid, position text, title text, description text,
           priority text, is_completed boolean, completed_at timestamptz, due_date timestamptz,
           due_on date, tags text[], recurrence jsonb, reminders jsonb,
           last_completed_at timestamptz, recurrence_done integer, created_at timestamptz,
           deleted_at timestamptz)
  RETURNING 1
), counted AS (
  UPDATE task_counts SET tasks = tasks + (SELECT count(*) FROM made) WHERE user_id = :user_id
)
SELECT count(*) FROM made;

-- name: import_comments(user_id, comments)$
-- How many comments were made from a jsonb array of {id, task_id, by_owner, author_name, body,
-- created_at, updated_at, deleted_at, seq} (deleted_at set: with its trashed task, never later
-- than now); the user is the author of those by_owner, the others have none and keep
-- author_name. One without created_at is made `seq` microseconds after now (seq: its place in
-- the document), so a task's comments keep the document's order; updated_at is never earlier.
WITH r AS (
  SELECT r.*, coalesce(r.created_at, now() + make_interval(secs => r.seq / 1e6)) AS made_at
    FROM jsonb_to_recordset(:comments::jsonb) AS r(
           id uuid, task_id uuid, by_owner boolean, author_name text, body text,
           created_at timestamptz, updated_at timestamptz, deleted_at timestamptz, seq integer)
), made AS (
  INSERT INTO comments (id, user_id, task_id, author_id, author_name, body, created_at,
                        updated_at, deleted_at)
  SELECT r.id, :user_id, r.task_id, CASE WHEN r.by_owner THEN :user_id::uuid END,
         r.author_name, r.body, r.made_at, greatest(r.updated_at, r.made_at),
         CASE WHEN r.deleted_at IS NOT NULL THEN least(r.deleted_at, now()) END
    FROM r
  RETURNING 1
)
SELECT count(*) FROM made;

-- name: hide_imported_trash(user_id, ids)!
-- Nothing: the imported comments `ids` (those of trashed tasks) kept out of the change feed, as
-- their tasks are (revision 0 is before every since; a restore stamps them anew).
UPDATE comments SET revision = 0
 WHERE user_id = :user_id AND id = ANY (:ids::uuid[]) AND deleted_at IS NOT NULL;
