-- Tasks, keyed by their list's owner (user_id), reached by whoever belongs to that list (issue 26,
-- SPEC §11): a statement selects a task by id where list_role(caller, owner, list) is not null
-- (the owner: no probe at all; a member: one primary-key probe of list_members), answers that
-- role as caller_role, and writes only when it reaches the operation's :required_role
-- (server/access/gate.py answers 403 for a role too low; a task in no list of the caller's is
-- null, the same 404 as a missing one). :user_id is the caller.
-- The listing (filters, sort, keyset paging) is composed from fixed fragments in server/tasks/page_sql.py.
-- completed_at follows is_completed (the table CHECKs it); every change bumps version by one and
-- moves updated_at forward, even if the clock has not. {task_columns} stands for a task's columns
-- (TASK_COLUMNS in server/db/queries.py), written in as the queries load.
--
-- Each statement a request starts with also checks the access token's account (its condition is
-- token_account_ok in tokens.sql, embedded where it says {token_account_ok}): one round trip
-- does both. Its answer is always one row: account_ok, and the task's columns (null when
-- there is no such task, or when the account may not act: then nothing was read or written).

-- name: create_task({token}, list_id, parent_id, title, description, priority, due_date, due_on, tags, is_completed, recurrence, reminders, assignee_id, quota, alone)^
-- account_ok, the caller's role on the list (caller_role: null when the caller belongs to no
-- such list), whether assignee_id is null or someone of that list (assignee_ok), and the new
-- task, last among its siblings, in list_id (null: the caller's inbox) under parent_id (null:
-- top level; the caller has checked it), stored under the list's owner and made by the caller;
-- null when the role does not reach :required_role, the assignee is no one of the list, or
-- the owner already has `quota` tasks (the trash counts). The list's key and the owner's count
-- are locked first, in that order (migrations 0032, 0039): concurrent creates pass the quota one
-- at a time. claim_room (migration 0061) takes the count, and the rows after it, each in a
-- statement of its own: one that waited for a row re-checks only that statement.
-- With :alone (the statement is its own transaction), it takes the list's counts too, and a task
-- of an owner whose lists have never had members takes the owner's next revision there, under
-- the owner's row lock, which the commit releases (so in commit order), and the change is
-- signalled; otherwise it waits for the commit stamp (migration 0059).
-- The list is found by its key either way, so that one plan serves every call: a CASE on
-- :list_id here made PostgreSQL plan the statement again on each (migration 0060's reason).
WITH account AS (SELECT {token_account_ok} AS ok),
target AS (
  SELECT l.id, l.user_id, list_role(:user_id, l.user_id, l.id) AS role,
         (:assignee_id::uuid IS NULL
          OR list_role(:assignee_id, l.user_id, l.id) IS NOT NULL) AS assignee_ok
    FROM lists AS l
   WHERE (SELECT ok FROM account)
     AND l.id = coalesce(:list_id::uuid,
                         (SELECT i.id FROM lists AS i WHERE i.user_id = :user_id AND i.is_inbox))
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
     FOR KEY SHARE OF l
),
room AS (
  SELECT r.has_room, r.new_revision
    FROM (SELECT user_id, id FROM target
           WHERE role_reaches(role, :required_role) AND assignee_ok) AS t
   CROSS JOIN LATERAL claim_room(t.user_id, t.id, :quota, :alone) AS r
),
task AS (
  INSERT INTO tasks (user_id, list_id, parent_id, title, description, priority, due_date, due_on,
                     tags, is_completed, completed_at, recurrence, reminders, created_by,
                     assignee_id, completed_by, revision)
  SELECT target.user_id, target.id, :parent_id, :title, :description, :priority, :due_date,
         :due_on, :tags, :is_completed, CASE WHEN :is_completed THEN now() END, :recurrence,
         :reminders, :user_id, :assignee_id, CASE WHEN :is_completed THEN :user_id::uuid END,
         (SELECT new_revision FROM room)
    FROM target
   WHERE (SELECT has_room FROM room)
  RETURNING {task_columns}
)
SELECT account.ok AS account_ok, (SELECT role FROM target) AS caller_role,
       (SELECT assignee_ok FROM target) AS assignee_ok, task.*
  FROM account LEFT JOIN task ON true;

-- name: get_task({token}, id)^
-- account_ok, the caller's role on the task's list, and the task (null when it is missing or
-- in no list of the caller's).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, list_role(:user_id, user_id, list_id) AS caller_role,
       {task_columns}
  FROM account LEFT JOIN tasks
    ON account.ok AND id = :id AND list_role(:user_id, user_id, list_id) IS NOT NULL;

-- name: batch_owners(user_id, required_role, ids, list_ids)
-- The owners of the lists of the tasks `ids` and of the lists `list_ids` that the caller's role
-- on reaches :required_role, in id order: whose placement locks and task counts a batch takes
-- before any row (server/sync/batch.py), as each of those owners' own writes take them.
SELECT DISTINCT user_id AS owner_id FROM lists
 WHERE (id = ANY (:list_ids::uuid[])
        OR id IN (SELECT list_id FROM tasks WHERE id = ANY (:ids::uuid[])))
   AND role_reaches(list_role(:user_id, user_id, id), :required_role)
 ORDER BY owner_id;

-- name: lock_batch_lists(user_id, required_role, ids, list_ids)!
-- Nothing of note: a key-share lock on the lists of the tasks `ids` and the lists `list_ids`
-- that the caller's role on reaches :required_role, in id order, taken before the tasks' rows
-- (lock_batch_tasks) as a list's deletion takes them (the list, then its tasks by cascade): a
-- batch holding a task's row and then creating in its list would deadlock with the deletion.
SELECT id FROM lists
 WHERE (id = ANY (:list_ids::uuid[])
        OR id IN (SELECT list_id FROM tasks WHERE id = ANY (:ids::uuid[])))
   AND role_reaches(list_role(:user_id, user_id, id), :required_role)
 ORDER BY id
   FOR KEY SHARE;

-- name: lock_batch_tasks(user_id, required_role, ids, trees)
-- The tasks `ids` whose list the caller's role on reaches :required_role, and the descendants
-- of those of them in `trees` (whose item completes, moves to another list or deletes its
-- subtree with it), their rows locked level by level from the top of their trees, each level in
-- id order: a parent before its subtasks, as a single move or completion takes a subtree, and
-- the one order every batch takes them in (two batches writing the same tasks in opposite
-- orders, two members of a shared list, then wait for each other instead of deadlocking again
-- at each retry). Taken here, before any item changes a list's counts (migration 0063): taken
-- by the item, after an earlier one had, a row a lone completion of a subtask held while it
-- waited for those counts deadlocked. Each with its completion as this statement found it
-- before it waited for those locks (seen_completed, seen_completed_at: what update_task answers
-- as found, and what the batch's first completion of the task completes from).
WITH RECURSIVE named AS (
  SELECT t.id, t.parent_id FROM tasks AS t
   WHERE t.id = ANY (:ids::uuid[])
     AND role_reaches(list_role(:user_id, t.user_id, t.list_id), :required_role)
),
above (id, parent_id) AS (  -- each named task, once per ancestor it has
  SELECT id, parent_id FROM named
  UNION ALL
  SELECT above.id, p.parent_id FROM above JOIN tasks AS p ON p.id = above.parent_id
),
placed (id, level) AS (SELECT id, count(*) - 1 FROM above GROUP BY id),
below (id, level) AS (
  SELECT c.id, placed.level + 1 FROM tasks AS c JOIN placed ON c.parent_id = placed.id
   WHERE placed.id = ANY (:trees::uuid[])
  UNION ALL
  SELECT c.id, below.level + 1 FROM tasks AS c JOIN below ON c.parent_id = below.id
),
taken (id, level) AS (
  SELECT id, level FROM placed
  UNION
  SELECT id, level FROM below
),
found AS (
  SELECT id, is_completed, last_completed_at FROM tasks WHERE id IN (SELECT id FROM taken)
)
SELECT t.id, found.is_completed AS seen_completed, found.last_completed_at AS seen_completed_at
  FROM tasks AS t JOIN taken ON taken.id = t.id JOIN found ON found.id = t.id
 ORDER BY taken.level, t.id
   FOR NO KEY UPDATE OF t;

-- name: task_version(user_id, id)$
-- The task's version, or null when it is missing or in no list of the caller's (user_id)
-- (tells 404 from 412).
SELECT version FROM tasks WHERE id = :id AND list_role(:user_id, user_id, list_id) IS NOT NULL;

-- name: update_task({token}, id, versions, set_assignee, assignee_id, title, set_description, description, priority, set_due_date, due_date, set_due_on, due_on, tags, is_completed, toggle, set_recurrence, recurrence, reminders, advance)^
-- account_ok, the caller's role on the task's list (caller_role), and the patched task (a null
-- non-nullable field, or a false set_ flag, keeps the stored value; toggle flips is_completed;
-- completed_by becomes the caller when it completes or advances), or null when it is missing,
-- in no list of the caller's, the role does not reach :required_role, the assignee set is no
-- one of the task's list (assignee_ok false), or not at one of `versions` (null: any version). Completing a task completes its open descendants
-- (the trigger of migration 0011). Completing an open recurring task is for the caller to decide
-- (server/tasks/completion.py): with advance null such a write matches nothing; with advance
-- true it stays open at the next due given (due_date, due_on) and records last_completed_at
-- (no cascade: it is not completed); with advance false it completes as usual. Beside it, the
-- task's completion as this statement found it (seen_completed, seen_completed_at: null when
-- there is no such task), so a completion knows which occurrence it came to complete.
WITH account AS (SELECT {token_account_ok} AS ok),
task AS (
  UPDATE tasks
     SET title = coalesce(:title, title),
         description = CASE WHEN :set_description THEN :description ELSE description END,
         priority = coalesce(:priority, priority),
         due_date = CASE WHEN :set_due_date OR :advance THEN :due_date ELSE due_date END,
         due_on = CASE WHEN :set_due_on OR :advance THEN :due_on ELSE due_on END,
         tags = coalesce(:tags, tags),
         recurrence = CASE WHEN :set_recurrence THEN :recurrence ELSE recurrence END,
         recurrence_done = CASE WHEN :set_recurrence THEN 0
                                WHEN :advance THEN recurrence_done + 1 ELSE recurrence_done END,
         reminders = coalesce(:reminders, reminders),
         is_completed = NOT coalesce(:advance, false)
                        AND (CASE WHEN :toggle THEN NOT is_completed ELSE coalesce(:is_completed, is_completed) END),
         completed_at = CASE WHEN NOT coalesce(:advance, false)
                                  AND (CASE WHEN :toggle THEN NOT is_completed ELSE coalesce(:is_completed, is_completed) END)
                             THEN coalesce(completed_at, now()) END,
         last_completed_at = CASE WHEN :advance THEN now() ELSE last_completed_at END,
         completed_by = CASE WHEN :advance OR (NOT is_completed AND NOT coalesce(:advance, false)
                                 AND (CASE WHEN :toggle THEN NOT is_completed
                                           ELSE coalesce(:is_completed, is_completed) END))
                             THEN :user_id::uuid ELSE completed_by END,
         assignee_id = CASE WHEN :set_assignee THEN :assignee_id::uuid ELSE assignee_id END,
         version = version + 1,
         updated_at = greatest(now(), updated_at + interval '1 microsecond')
   WHERE (SELECT ok FROM account) AND id = :id
     AND role_reaches(list_role(:user_id, user_id, list_id), :required_role)
     AND (NOT :set_assignee OR :assignee_id::uuid IS NULL
          OR list_role(:assignee_id, user_id, list_id) IS NOT NULL)
     AND (:versions::integer[] IS NULL OR version = ANY (:versions))
     AND (:advance::boolean IS NOT NULL OR is_completed
          OR NOT (CASE WHEN :toggle THEN NOT is_completed ELSE coalesce(:is_completed, is_completed) END)
          OR (CASE WHEN :set_recurrence THEN :recurrence ELSE recurrence END) IS NULL)
  RETURNING {task_columns}
)
SELECT account.ok AS account_ok, task.*,
       list_role(:user_id, seen.user_id, seen.list_id) AS caller_role,
       (NOT :set_assignee OR :assignee_id::uuid IS NULL
        OR list_role(:assignee_id, seen.user_id, seen.list_id) IS NOT NULL) AS assignee_ok,
       seen.is_completed AS seen_completed, seen.last_completed_at AS seen_completed_at
  FROM account LEFT JOIN task ON true
  LEFT JOIN tasks AS seen
    ON account.ok AND seen.id = :id
   AND list_role(:user_id, seen.user_id, seen.list_id) IS NOT NULL;

-- name: completing_task(user_id, id)^
-- What completing a task needs to know: its version, whether it is open and when it last
-- advanced, its recurrence and due, the advances made, and its owner's zone; nothing when it
-- is missing or in no list of the caller's (user_id).
SELECT t.version, t.is_completed, t.last_completed_at, t.recurrence, t.recurrence_done,
       t.due_date, t.due_on, u.timezone
  FROM tasks AS t JOIN users AS u ON u.id = t.user_id
 WHERE t.id = :id AND list_role(:user_id, t.user_id, t.list_id) IS NOT NULL;

-- name: delete_task({token}, id, versions)^
-- account_ok, the caller's role on the task's list (caller_role), and the deleted task's id, or
-- null when it is missing, in no list of the caller's, the role does not reach :required_role,
-- or not at one of `versions` (null: any version).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT list_role(:user_id, user_id, list_id) AS role FROM tasks
   WHERE (SELECT ok FROM account) AND id = :id
),
task AS (
  DELETE FROM tasks
   WHERE (SELECT ok FROM account) AND id = :id
     AND role_reaches(list_role(:user_id, user_id, list_id), :required_role)
     AND (:versions::integer[] IS NULL OR version = ANY (:versions))
  RETURNING id
)
SELECT account.ok AS account_ok, (SELECT role FROM seen) AS caller_role, task.id
  FROM account LEFT JOIN task ON true;

-- name: get_stats({token}, list_id, now)^
-- account_ok, and the counts of the tasks of every list the caller belongs to (their own and
-- shared): total, completed, overdue (open and past due), per priority, and per tag as a JSON
-- array [{tag, count}] of the 100 most used tags, sorted by count desc then tag; one
-- statement, one snapshot. With list_id (else null), of that list's tasks only. Overdue is
-- judged at `now` (the app's clock) against due_at: an all-day task at the end of its day.
WITH seen AS (
  SELECT is_completed, due_at, priority, tags FROM tasks
   WHERE user_id = :user_id AND (:list_id::uuid IS NULL OR list_id = :list_id)
  UNION ALL
  SELECT t.is_completed, t.due_at, t.priority, t.tags
    FROM list_members AS m JOIN tasks AS t ON t.user_id = m.owner_id AND t.list_id = m.list_id
   WHERE m.member_id = :user_id AND (:list_id::uuid IS NULL OR m.list_id = :list_id)
)
SELECT {token_account_ok} AS account_ok,
       count(*) AS total,
       count(*) FILTER (WHERE is_completed) AS completed,
       count(*) FILTER (WHERE NOT is_completed AND due_at < :now) AS overdue,
       count(*) FILTER (WHERE priority = 'low') AS low,
       count(*) FILTER (WHERE priority = 'medium') AS medium,
       count(*) FILTER (WHERE priority = 'high') AS high,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('tag', tag, 'count', n) ORDER BY n DESC, tag),
                        '[]'::jsonb)
          FROM (SELECT tag, count(*) AS n
                  FROM seen AS t, unnest(t.tags) AS tag
                 GROUP BY tag
                 ORDER BY n DESC, tag
                 LIMIT 100) AS per_tag) AS tags
  FROM seen;
