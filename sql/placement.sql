-- Where tasks are: their list, their parent and their position among their siblings (the tasks
-- of one list under one parent; parent_key is the parent, or the nil uuid at the top level).
-- Every query names the owner. Changes of shape hold the user's placement lock (lists.sql).

-- name: task_owner({token}, id)^
-- account_ok, the caller's role on the task's list (caller_role: null when it is missing or in
-- no list of the caller's), and its owner when that role reaches :required_role (else null):
-- whose placement lock a change of the task's tree takes.
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, list_role(:user_id, t.user_id, t.list_id) AS caller_role,
       CASE WHEN role_reaches(list_role(:user_id, t.user_id, t.list_id), :required_role)
            THEN t.user_id END AS owner_id
  FROM account LEFT JOIN tasks AS t
    ON account.ok AND t.id = :id AND list_role(:user_id, t.user_id, t.list_id) IS NOT NULL;

-- name: lock_owner_placement(owner_id)$
-- Nothing of note: takes the placement lock of the owner of the lists and trees a member
-- changes (the lock lock_placement takes for its own user: the same key).
SELECT pg_advisory_xact_lock(3, hashtext(:owner_id::text))::text;

-- name: task_placement({token}, id)^
-- account_ok, the caller's role on the task's list (caller_role), and the task's owner, list,
-- parent and version, its row locked, when that role reaches :required_role (null when it is
-- missing, in no list of the caller's, or the role is too low: nothing locked).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT list_role(:user_id, user_id, list_id) AS role FROM tasks
   WHERE (SELECT ok FROM account) AND id = :id
),
task AS (
  SELECT user_id AS owner_id, list_id, parent_id, version FROM tasks
   WHERE (SELECT ok FROM account) AND id = :id
     AND role_reaches(list_role(:user_id, user_id, list_id), :required_role)
     FOR UPDATE
)
SELECT account.ok AS account_ok, (SELECT role FROM seen) AS caller_role, task.*
  FROM account LEFT JOIN task ON true;

-- name: placement_facts(user_id, owner_id, id, parent_id, list_id)^
-- What decides a placement of task `id` (null for a new task) under `parent_id` (null: top
-- level) in `list_id` (null: not asked), by user_id (the caller), of the lists of owner_id
-- (null: anyone's; a task moves among its owner's lists alone): whether the list is one the
-- user may write (editor or owner); the parent's list and level (1 at the top; null list: no
-- such parent in a list the user may write, since a task goes to its parent's list); whether
-- the parent is the task or one of its descendants; and the height of the task's subtree (1:
-- no children).
WITH RECURSIVE
    ancestry (id, parent_id, list_id, owner, steps) AS (
        SELECT id, parent_id, list_id, user_id, 1 FROM tasks
         WHERE id = :parent_id AND user_id = coalesce(:owner_id::uuid, user_id)
           AND role_reaches(list_role(:user_id, user_id, list_id), 'editor')
        UNION ALL
        SELECT t.id, t.parent_id, t.list_id, t.user_id, a.steps + 1
          FROM tasks AS t JOIN ancestry AS a ON t.id = a.parent_id
         WHERE t.user_id = a.owner AND a.steps < 8
    ),
    subtree (id, depth) AS (
        SELECT id, 1 FROM tasks WHERE user_id = :owner_id AND id = :id
        UNION ALL
        SELECT t.id, s.depth + 1
          FROM tasks AS t JOIN subtree AS s ON t.parent_id = s.id
         WHERE t.user_id = :owner_id AND s.depth < 8
    )
SELECT (:list_id::uuid IS NULL
        OR EXISTS (SELECT FROM lists
                    WHERE id = :list_id AND user_id = coalesce(:owner_id::uuid, user_id)
                      AND role_reaches(list_role(:user_id, user_id, id), 'editor')))
       AS list_found,
       (SELECT list_id FROM ancestry WHERE steps = 1) AS parent_list_id,
       (SELECT count(*) FROM ancestry) AS parent_level,
       EXISTS (SELECT FROM ancestry WHERE id = :id) AS cycle,
       coalesce((SELECT max(depth) FROM subtree), 1) AS height;

-- name: task_neighbours(user_id, list_id, parent_key, id, after_id)^
-- Where a task goes right after its sibling after_id (null: first) among the siblings of
-- (list_id, parent_key), leaving out the task `id` being moved: whether after_id is such a
-- sibling, and the positions around.
WITH after AS (
    SELECT position FROM tasks
     WHERE user_id = :user_id AND list_id = :list_id AND parent_key = :parent_key
       AND id = :after_id AND id <> :id
)
SELECT EXISTS (SELECT FROM after) AS found,
       (SELECT position FROM after) AS low,
       (SELECT position FROM tasks
         WHERE user_id = :user_id AND list_id = :list_id AND parent_key = :parent_key
           AND id <> :id AND position > coalesce((SELECT position FROM after), '')
         ORDER BY position LIMIT 1) AS high;

-- name: task_positions(user_id, list_id, parent_key, id)
-- The (id, position) of the siblings of (list_id, parent_key) but `id`, in order (to
-- renumber a crowded run).
SELECT id, position FROM tasks
 WHERE user_id = :user_id AND list_id = :list_id AND parent_key = :parent_key AND id <> :id
 ORDER BY position;

-- name: park_tasks(user_id, ids)!
-- Nothing: gives these tasks interim positions that no key takes ('~' sorts after every
-- digit), so that a renumbered run never meets its old positions.
UPDATE tasks SET position = '~' || id WHERE user_id = :user_id AND id = ANY (:ids::uuid[]);

-- name: renumber_tasks(user_id, ids, positions)!
-- Nothing: each task of `ids` takes the position at the same index; each is a change.
UPDATE tasks AS t
   SET position = r.position,
       version = t.version + 1,
       updated_at = greatest(now(), t.updated_at + interval '1 microsecond')
  FROM unnest(:ids::uuid[], :positions::text[]) AS r (id, position)
 WHERE t.user_id = :user_id AND t.id = r.id;

-- name: move_task(user_id, id, list_id, parent_id, position)^
-- The task in `list_id` under `parent_id` at `position` (null: after every sibling), its
-- descendants moved to that list too (each of them changed when its list changes).
WITH RECURSIVE
    descendants (id) AS (
        SELECT id FROM tasks WHERE user_id = :user_id AND parent_id = :id
        UNION ALL
        SELECT t.id FROM tasks AS t JOIN descendants AS d ON t.parent_id = d.id
         WHERE t.user_id = :user_id
    ),
    travelled AS (
        UPDATE tasks
           SET list_id = :list_id,
               version = version + 1,
               updated_at = greatest(now(), updated_at + interval '1 microsecond')
         WHERE user_id = :user_id AND id IN (SELECT id FROM descendants)
           AND list_id <> :list_id
    )
UPDATE tasks
   SET list_id = :list_id,
       parent_id = :parent_id,
       position = coalesce(:position, next_position()),
       version = version + 1,
       updated_at = greatest(now(), updated_at + interval '1 microsecond')
 WHERE user_id = :user_id AND id = :id
RETURNING {task_columns};
