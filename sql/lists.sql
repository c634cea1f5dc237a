-- Lists, keyed by their owner (user_id), reached by whoever belongs to them (issue 26, SPEC §11):
-- a statement selects a list by id where list_role(caller, owner, list) is not null, answers
-- that role as caller_role, and writes only when it reaches the operation's :required_role
-- (server/access/gate.py). :user_id is the caller. Each person has their own sidebar: their own
-- lists at lists.position, the lists they joined at list_members.position (byte order, keys of
-- one generator); a list answers the caller's position, role and member_count (the members
-- besides the owner). Every change of a list, its owner's move included, bumps version by one
-- and moves updated_at forward; a member's move changes their own place alone.
-- {list_columns} stands for a list's own columns (LIST_COLUMNS in server/db/queries.py).
--
-- As for tasks (tasks.sql), a statement a request starts with also checks the access token's
-- account where it says {token_account_ok}: its answer is always a row, account_ok beside the
-- list's columns (null when there is no such list, or when the account may not act).

-- name: lock_placement({token})^
-- account_ok, having taken the user's transaction-scoped placement lock, which every change of
-- the shape of the user's lists and task trees (a move, a subtask, a new list, a restore) holds
-- while it decides.
SELECT {token_account_ok} AS account_ok,
       pg_advisory_xact_lock(3, hashtext(:user_id::text))::text AS locked;

-- name: next_position()$
-- A position after every position made so far (migration 0010).
SELECT next_position();

-- name: list_lists({token})
-- account_ok on every row, and the lists of the user's sidebar (their own and those they
-- joined) in their manual order, with their role and member_count (none: one row of nulls
-- beside account_ok).
WITH account AS (SELECT {token_account_ok} AS ok),
sidebar AS (
  SELECT {list_columns}, 'owner' AS role FROM lists WHERE user_id = :user_id
  UNION ALL
  SELECT l.id, l.user_id, l.name, l.color, m.position, l.is_inbox, l.created_at, l.updated_at,
         l.version, m.role
    FROM list_members AS m JOIN lists AS l ON l.user_id = m.owner_id AND l.id = m.list_id
   WHERE m.member_id = :user_id
)
SELECT account.ok AS account_ok, sidebar.*,
       (SELECT count(*) FROM list_members AS c WHERE c.list_id = sidebar.id) AS member_count
  FROM account LEFT JOIN sidebar ON account.ok
 ORDER BY sidebar.position, sidebar.id;

-- name: create_list(user_id, name, color, quota)^
-- The new list, placed last; nothing when the user already has `quota` lists.
INSERT INTO lists (user_id, name, color)
SELECT :user_id, :name, :color
 WHERE (SELECT count(*) FROM lists WHERE user_id = :user_id) < :quota
RETURNING {list_columns};

-- name: get_list({token}, id)^
-- account_ok, the caller's role on the list (caller_role, and role), and the list at the
-- caller's position with its member_count (null when it is missing or the caller belongs to
-- no such list).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, list_role(:user_id, l.user_id, l.id) AS caller_role,
       list_role(:user_id, l.user_id, l.id) AS role,
       l.id, l.user_id, l.name, l.color, l.is_inbox, l.created_at, l.updated_at, l.version,
       CASE WHEN l.user_id = :user_id THEN l.position
            ELSE (SELECT m.position FROM list_members AS m
                   WHERE m.list_id = l.id AND m.member_id = :user_id) END AS position,
       (SELECT count(*) FROM list_members AS c WHERE c.list_id = l.id) AS member_count
  FROM account LEFT JOIN lists AS l
    ON account.ok AND l.id = :id AND list_role(:user_id, l.user_id, l.id) IS NOT NULL;

-- name: update_list({token}, id, versions, name, set_color, color)^
-- account_ok, the caller's role on the list (caller_role), and the patched list with its
-- member_count (a null name, or a false set_color, keeps the stored value), or null when it is
-- missing, the caller belongs to no such list, the role does not reach :required_role, or it
-- is not at one of `versions` (null: any version).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT list_role(:user_id, user_id, id) AS role FROM lists
   WHERE (SELECT ok FROM account) AND id = :id
),
list AS (
  UPDATE lists
     SET name = coalesce(:name, name),
         color = CASE WHEN :set_color THEN :color ELSE color END,
         version = version + 1,
         updated_at = greatest(now(), updated_at + interval '1 microsecond')
   WHERE (SELECT ok FROM account) AND id = :id
     AND role_reaches(list_role(:user_id, user_id, id), :required_role)
     AND (:versions::integer[] IS NULL OR version = ANY (:versions))
  RETURNING {list_columns}
)
SELECT account.ok AS account_ok, (SELECT role FROM seen) AS caller_role, list.*,
       (SELECT role FROM seen) AS role,
       (SELECT count(*) FROM list_members AS c WHERE c.list_id = list.id) AS member_count
  FROM account LEFT JOIN list ON true;

-- name: delete_list({token}, id, versions)^
-- account_ok, the caller's role on the list (caller_role), and the deleted list's id (its
-- tasks and memberships go with it), or null when it is the inbox, missing, the caller belongs
-- to no such list, the role does not reach :required_role, or it is not at one of `versions`
-- (null: any version).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT list_role(:user_id, user_id, id) AS role FROM lists
   WHERE (SELECT ok FROM account) AND id = :id
),
list AS (
  DELETE FROM lists
   WHERE (SELECT ok FROM account) AND id = :id AND NOT is_inbox
     AND role_reaches(list_role(:user_id, user_id, id), :required_role)
     AND (:versions::integer[] IS NULL OR version = ANY (:versions))
  RETURNING id
)
SELECT account.ok AS account_ok, (SELECT role FROM seen) AS caller_role, list.id
  FROM account LEFT JOIN list ON true;

-- name: list_state(user_id, id)^
-- The list's version and whether it is the inbox, or nothing when it is missing or the user
-- belongs to no such list (tells 404 from 412 from 409).
SELECT version, is_inbox FROM lists
 WHERE id = :id AND list_role(:user_id, user_id, id) IS NOT NULL;

-- name: move_list(user_id, id, position)^
-- The list at its new place in the user's sidebar (position null: after every list), with the
-- user's role and its member_count: the owner's own list moves (a change of the list), a
-- joined one moves in the member's sidebar alone (list_members.position; the list unchanged).
WITH own AS (
  UPDATE lists
     SET position = coalesce(:position, next_position()),
         version = version + 1,
         updated_at = greatest(now(), updated_at + interval '1 microsecond')
   WHERE user_id = :user_id AND id = :id
  RETURNING {list_columns}, 'owner' AS role
),
joined AS (
  UPDATE list_members AS m
     SET position = coalesce(:position, next_position())
    FROM lists AS l
   WHERE m.member_id = :user_id AND m.list_id = :id
     AND l.user_id = m.owner_id AND l.id = m.list_id
  RETURNING l.id, l.user_id, l.name, l.color, m.position, l.is_inbox, l.created_at,
            l.updated_at, l.version, m.role
),
moved AS (SELECT * FROM own UNION ALL SELECT * FROM joined)
SELECT moved.*,
       (SELECT count(*) FROM list_members AS c WHERE c.list_id = moved.id) AS member_count
  FROM moved;

-- name: list_neighbours(user_id, id, after_id)^
-- Where a list goes right after the list after_id (null: first) in the user's sidebar (their
-- own lists and those they joined), leaving out the list `id` being moved: whether after_id is
-- another list of the sidebar, and the positions around.
WITH sidebar AS (
    SELECT id, position FROM lists WHERE user_id = :user_id
    UNION ALL
    SELECT list_id, position FROM list_members WHERE member_id = :user_id
),
after AS (SELECT position FROM sidebar WHERE id = :after_id AND id <> :id)
SELECT EXISTS (SELECT FROM after) AS found,
       (SELECT position FROM after) AS low,
       (SELECT position FROM sidebar
         WHERE id <> :id AND position > coalesce((SELECT position FROM after), '')
         ORDER BY position LIMIT 1) AS high;

-- name: list_positions(user_id, id)
-- The (id, position) of the lists of the user's sidebar but `id`, in order (to renumber a
-- crowded run).
SELECT id, position FROM (
    SELECT id, position FROM lists WHERE user_id = :user_id
    UNION ALL
    SELECT list_id, position FROM list_members WHERE member_id = :user_id
) AS sidebar
 WHERE id <> :id ORDER BY position, id;

-- name: park_lists(user_id, ids)!
-- Nothing: gives these lists of the user's sidebar interim positions that no key takes ('~'
-- sorts after every digit), so that a renumbered run never meets its old positions.
WITH own AS (
  UPDATE lists SET position = '~' || id WHERE user_id = :user_id AND id = ANY (:ids::uuid[])
)
UPDATE list_members SET position = '~' || list_id
 WHERE member_id = :user_id AND list_id = ANY (:ids::uuid[]);

-- name: renumber_lists(user_id, ids, positions)!
-- Nothing: each list of `ids` takes the position at the same index in the user's sidebar; each
-- of the user's own lists is a change.
WITH own AS (
  UPDATE lists AS l
     SET position = r.position,
         version = l.version + 1,
         updated_at = greatest(now(), l.updated_at + interval '1 microsecond')
    FROM unnest(:ids::uuid[], :positions::text[]) AS r (id, position)
   WHERE l.user_id = :user_id AND l.id = r.id
)
UPDATE list_members AS m
   SET position = r.position
  FROM unnest(:ids::uuid[], :positions::text[]) AS r (id, position)
 WHERE m.member_id = :user_id AND m.list_id = r.id;
