-- The members of a shared list (issue 26, SPEC §11). The owner (lists.user_id) is no row of
-- list_members but is listed first, role owner. Each statement checks the access token's
-- account and list access ({token} names :required_role): it answers account_ok and
-- caller_role (null when the caller belongs to no such list: the answer is then that of a
-- missing list) and writes nothing unless the caller's role reaches the operation's.

-- name: list_members({token}, list_id)
-- account_ok and caller_role on every row, and the list's people, the owner first, then the
-- members as they joined: member_id, name, email, role, joined_at (nulls when the caller may
-- not see the list).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT l.id, l.user_id, l.created_at, list_role(:user_id, l.user_id, l.id) AS role
    FROM lists l
   WHERE (SELECT ok FROM account) AND l.id = :list_id
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
)
SELECT account.ok AS account_ok, seen.role AS caller_role, people.*
  FROM account
  LEFT JOIN seen ON true
  LEFT JOIN LATERAL (
    SELECT 0 AS rank, u.id AS member_id, u.name, u.email, 'owner' AS role,
           seen.created_at AS joined_at
      FROM users u WHERE u.id = seen.user_id
    UNION ALL
    SELECT 1, u.id, u.name, u.email, m.role, m.joined_at
      FROM list_members m JOIN users u ON u.id = m.member_id
     WHERE m.list_id = seen.id
  ) AS people ON role_reaches(seen.role, :required_role)
 ORDER BY people.rank, people.joined_at, people.member_id;

-- name: set_member_role({token}, list_id, member_id, role)^
-- account_ok, caller_role, whether member_id is the list's owner, and the member with their
-- new role (member_id, name, email, role, joined_at; null when no such member or not allowed).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT l.id, l.user_id, list_role(:user_id, l.user_id, l.id) AS role
    FROM lists l
   WHERE (SELECT ok FROM account) AND l.id = :list_id
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
),
changed AS (
  UPDATE list_members m SET role = :role
    FROM seen
   WHERE role_reaches(seen.role, :required_role)
     AND m.list_id = seen.id AND m.owner_id = seen.user_id AND m.member_id = :member_id
  RETURNING m.member_id, m.role, m.joined_at
)
SELECT account.ok AS account_ok, seen.role AS caller_role,
       seen.user_id = :member_id AS is_owner,
       changed.member_id, u.name, u.email, changed.role, changed.joined_at
  FROM account
  LEFT JOIN seen ON true
  LEFT JOIN changed ON true
  LEFT JOIN users u ON u.id = changed.member_id;

-- name: remove_member({token}, list_id, member_id)^
-- account_ok; caller_role, the caller's standing on the membership acted on: for their own
-- membership (leaving) 'owner', as a membership belongs to the list's owner and to its
-- member alike, else their role on the list; whether member_id is the list's owner; and the
-- removed member's id (null when none was removed). Their assignments in the list are
-- cleared by migration 0041's trigger.
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT l.id, l.user_id,
         CASE WHEN :member_id::uuid = :user_id::uuid THEN 'owner'
              ELSE list_role(:user_id, l.user_id, l.id) END AS role
    FROM lists l
   WHERE (SELECT ok FROM account) AND l.id = :list_id
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
),
removed AS (
  DELETE FROM list_members m
   USING seen
   WHERE role_reaches(seen.role, :required_role)
     AND m.list_id = seen.id AND m.owner_id = seen.user_id AND m.member_id = :member_id
  RETURNING m.member_id
)
SELECT account.ok AS account_ok, seen.role AS caller_role,
       seen.user_id = :member_id AS is_owner, removed.member_id
  FROM account
  LEFT JOIN seen ON true
  LEFT JOIN removed ON true;

-- name: memberships_held(member_id, list_ids)$
-- How many of these lists (of other owners) member_id still belongs to: asked while a large page
-- of their tasks is sent.
SELECT count(*) FROM list_members WHERE member_id = :member_id AND list_id = ANY(:list_ids::uuid[]);
