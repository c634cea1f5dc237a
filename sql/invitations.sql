-- Invitations to a shared list (issue 26, SPEC §11; migration 0042). The owner's side reads and
-- writes through the list (list access checked as in members.sql); the invitee's side through
-- the caller's verified address (verified_address): an invitation addressed elsewhere is, to
-- them, no invitation at all. An invitation answers as {id, list {id, name}, email, role,
-- invited_by {id, name}, created_at, expires_at, status}: its rows carry list_id, list_name,
-- inviter_id and inviter_name for the nested objects.

-- name: invitation_list({token}, list_id)^
-- account_ok, caller_role, and the list (id, name, is_inbox; null when the caller may not see
-- it), having taken its owner's transaction-scoped invitation lock when the caller may invite.
-- The list's row is key-share locked until the transaction ends: a deletion of the list (or of
-- its owner's account) waits for the invitation, or, when first, leaves no list to invite to
-- (404), never an invitation whose list went in between (a foreign key violation).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT l.id, l.user_id, l.name, l.is_inbox, list_role(:user_id, l.user_id, l.id) AS role
    FROM lists l
   WHERE (SELECT ok FROM account) AND l.id = :list_id
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
     FOR KEY SHARE OF l
)
SELECT account.ok AS account_ok, seen.role AS caller_role, seen.id, seen.name, seen.is_inbox,
       CASE WHEN role_reaches(seen.role, :required_role)
            THEN pg_advisory_xact_lock(8, hashtext(seen.user_id::text))::text END AS locked
  FROM account LEFT JOIN seen ON true;

-- name: expire_invitations(list_id, email)!
-- Nothing: a pending invitation of this list to this address (any letter case) that is past
-- its expiry is stored as expired, so that the address can be invited again.
UPDATE invitations SET status = 'expired'
 WHERE list_id = :list_id AND lower(email) = lower(:email) AND status = 'pending'
   AND expires_at <= now();

-- name: create_invitation(owner_id, list_id, email, role, ttl_seconds, client, member_limit)^
-- The new pending invitation (its mail written to the outbox and its mail request counted),
-- or, with nulls, `taken` when the address is the owner's or a member's (any letter case) and
-- `full_list` when the list has member_limit members. A second pending invitation of the list to
-- the address is refused by invitations_pending_key (unique violation).
WITH list AS (
  SELECT l.id, l.name, l.user_id, u.name AS inviter_name
    FROM lists l JOIN users u ON u.id = l.user_id
   WHERE l.user_id = :owner_id AND l.id = :list_id
), taken AS (
  SELECT EXISTS (
    SELECT 1 FROM users u
     WHERE lower(u.email) = lower(:email)
       AND (u.id = :owner_id OR EXISTS (SELECT 1 FROM list_members m
                                         WHERE m.list_id = :list_id AND m.member_id = u.id))
  ) AS taken
), full_list AS (
  SELECT count(*) >= :member_limit AS is_full FROM list_members WHERE list_id = :list_id
), made AS (
  INSERT INTO invitations (list_id, owner_id, email, role, invited_by, expires_at)
  SELECT id, user_id, :email, :role, user_id, now() + make_interval(secs => :ttl_seconds::int)
    FROM list
   WHERE NOT (SELECT taken FROM taken) AND NOT (SELECT is_full FROM full_list)
  RETURNING *
), mail AS (
  INSERT INTO outbox (channel, payload)
  SELECT 'mail', jsonb_build_object(
           'kind', 'invitation', 'to', made.email, 'name', '', 'user_id', made.owner_id,
           'invitation_id', made.id, 'list_name', list.name, 'inviter', list.inviter_name,
           'role', made.role, 'expires_at', made.expires_at)
    FROM made, list
), asked AS (
  INSERT INTO mail_requests (kind, address, client, user_id, mailed)
  SELECT 'invitation', lower(email), :client, owner_id, true FROM made
)
SELECT (SELECT taken FROM taken) AS taken, (SELECT is_full FROM full_list) AS full_list,
       made.id, made.list_id, list.name AS list_name, made.email, made.role,
       made.invited_by AS inviter_id, list.inviter_name, made.created_at, made.expires_at,
       made.status
  FROM (SELECT 1) AS one LEFT JOIN made ON true LEFT JOIN list ON true;

-- name: list_invitations({token}, list_id, limit)
-- account_ok and caller_role on every row, and the list's `limit` latest invitations, newest
-- first (nulls when there are none, or the caller may not see them).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT l.id, l.user_id, l.name, list_role(:user_id, l.user_id, l.id) AS role
    FROM lists l
   WHERE (SELECT ok FROM account) AND l.id = :list_id
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
)
SELECT account.ok AS account_ok, seen.role AS caller_role, found.*
  FROM account
  LEFT JOIN seen ON true
  LEFT JOIN LATERAL (
    SELECT i.id, i.list_id, seen.name AS list_name, i.email, i.role,
           i.invited_by AS inviter_id, u.name AS inviter_name, i.created_at, i.expires_at,
           invitation_state(i.status, i.expires_at) AS status
      FROM invitations i JOIN users u ON u.id = i.invited_by
     WHERE i.list_id = seen.id AND i.owner_id = seen.user_id
     ORDER BY i.created_at DESC, i.id DESC
     LIMIT :limit
  ) AS found ON role_reaches(seen.role, :required_role)
 ORDER BY found.created_at DESC, found.id DESC;

-- name: revoke_invitation({token}, list_id, id)^
-- account_ok, caller_role, and the id of the invitation now revoked (null when it was not
-- pending, not the list's, or the caller may not revoke it).
WITH account AS (SELECT {token_account_ok} AS ok),
seen AS (
  SELECT l.id, l.user_id, list_role(:user_id, l.user_id, l.id) AS role
    FROM lists l
   WHERE (SELECT ok FROM account) AND l.id = :list_id
     AND list_role(:user_id, l.user_id, l.id) IS NOT NULL
),
revoked AS (
  UPDATE invitations i SET status = 'revoked', responded_at = now()
    FROM seen
   WHERE role_reaches(seen.role, :required_role)
     AND i.list_id = seen.id AND i.owner_id = seen.user_id AND i.id = :id
     AND i.status = 'pending' AND i.expires_at > now()
  RETURNING i.id
)
SELECT account.ok AS account_ok, seen.role AS caller_role, revoked.id
  FROM account LEFT JOIN seen ON true LEFT JOIN revoked ON true;

-- name: list_invitation_state(list_id, id)$
-- The invitation's status as it answers now (expired included), or nothing when the list has
-- no such invitation (read afresh after a revocation that changed nothing).
SELECT invitation_state(status, expires_at) FROM invitations
 WHERE list_id = :list_id AND id = :id;

-- name: my_invitations({token}, limit)
-- account_ok on every row, and the `limit` latest pending invitations addressed to the
-- caller's verified address, newest first (one row of nulls beside account_ok when none).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, found.*
  FROM account
  LEFT JOIN LATERAL (
    SELECT i.id, i.list_id, l.name AS list_name, i.email, i.role,
           i.invited_by AS inviter_id, u.name AS inviter_name, i.created_at, i.expires_at,
           i.status
      FROM invitations i
      JOIN lists l ON l.user_id = i.owner_id AND l.id = i.list_id
      JOIN users u ON u.id = i.invited_by
     WHERE lower(i.email) = verified_address(:user_id)
       AND i.status = 'pending' AND i.expires_at > now()
     ORDER BY i.created_at DESC, i.id DESC
     LIMIT :limit
  ) AS found ON account.ok
 ORDER BY found.created_at DESC, found.id DESC;

-- name: addressed_invitation({token}, id)^
-- account_ok, and the list (list_id, owner_id) of the invitation when it is addressed to the
-- caller's verified address (nulls when it is not, or there is none).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, i.list_id, i.owner_id
  FROM account
  LEFT JOIN invitations i
    ON account.ok AND i.id = :id AND lower(i.email) = verified_address(:user_id);

-- name: lock_list_joins(owner_id, list_id)$
-- The list's id, its row locked until the transaction ends (joins of one list take this lock
-- in turn, so each counts the members the others added); nothing when it is gone.
SELECT id FROM lists WHERE user_id = :owner_id AND id = :list_id FOR NO KEY UPDATE;

-- name: claim_invitation(user_id, id)^
-- The invitation addressed to the caller's verified address, locked until the transaction
-- ends: its status as it answers now (expired included), role, list_id, owner_id; nothing
-- when there is none.
SELECT invitation_state(status, expires_at) AS status, role, list_id, owner_id
  FROM invitations
 WHERE id = :id AND lower(email) = verified_address(:user_id)
   FOR UPDATE;

-- name: join_list(id, member_id, member_limit)^
-- The list the caller joined by the (claimed, pending) invitation, with the caller's own
-- position (placed last) as the List's, their role and the list's member_count; the invitation is then accepted. Nothing when the
-- list already has member_limit members.
WITH invitation AS (
  SELECT list_id, owner_id, role FROM invitations WHERE id = :id
), joined AS (
  INSERT INTO list_members (list_id, owner_id, member_id, role)
  SELECT list_id, owner_id, :member_id, role FROM invitation
   WHERE (SELECT count(*) FROM list_members m
           WHERE m.list_id = (SELECT list_id FROM invitation)) < :member_limit
  RETURNING list_id, owner_id, position, role
), accepted AS (
  UPDATE invitations SET status = 'accepted', responded_at = now()
   WHERE id = :id AND EXISTS (SELECT 1 FROM joined)
)
SELECT l.id, l.user_id, l.name, l.color, joined.position, l.is_inbox, l.created_at,
       l.updated_at, l.version, joined.role,
       -- the members besides the owner, the joiner included (this statement's snapshot
       -- does not see its own insert)
       (SELECT count(*)::integer + 1 FROM list_members m WHERE m.list_id = l.id)
           AS member_count
  FROM joined JOIN lists l ON l.user_id = joined.owner_id AND l.id = joined.list_id;

-- name: decline_invitation({token}, id)^
-- account_ok, and the id of the invitation now declined (null when it is not addressed to the
-- caller's verified address, or not pending).
WITH account AS (SELECT {token_account_ok} AS ok),
declined AS (
  UPDATE invitations SET status = 'declined', responded_at = now()
   WHERE (SELECT ok FROM account) AND id = :id AND lower(email) = verified_address(:user_id)
     AND status = 'pending' AND expires_at > now()
  RETURNING id
)
SELECT account.ok AS account_ok, declined.id FROM account LEFT JOIN declined ON true;

-- name: addressed_invitation_state(user_id, id)$
-- The status (as it answers now) of the invitation addressed to the caller's verified
-- address, or nothing when there is none (read afresh after a decline that changed nothing).
SELECT invitation_state(status, expires_at) FROM invitations
 WHERE id = :id AND lower(email) = verified_address(:user_id);
