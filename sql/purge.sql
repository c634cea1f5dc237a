-- What the service forgets by itself (server/system/purger.py runs each purge_* query in turn),
-- and the lease that makes exactly one worker of the cluster the purger.

-- name: take_purge_lease(holder, lease_seconds)$
-- True when this holder now holds the purger's lease (it was free, expired, or already its own).
UPDATE purge_lease
SET holder = :holder, leased_until = now() + make_interval(secs => :lease_seconds::int)
WHERE name = 'purger' AND (holder = :holder OR leased_until < now())
RETURNING true;

-- name: release_purge_lease(holder)!
-- Nothing: gives the lease up (a worker that stops), so another can take it at once.
UPDATE purge_lease SET leased_until = '-infinity' WHERE name = 'purger' AND holder = :holder;

-- name: purge_refresh_tokens()$
-- How many expired refresh tokens were deleted.
WITH gone AS (DELETE FROM refresh_tokens WHERE expires_at < now() RETURNING 1)
SELECT count(*) FROM gone;

-- name: purge_login_families(access_seconds)$
-- How many login families were deleted: ended, expired, or out of refresh tokens and unused for
-- longer than an access token lives (so no live access token names it).
WITH gone AS (
    DELETE FROM login_families f
    WHERE f.ended_at IS NOT NULL OR f.expires_at < now()
       OR (f.last_used_at < now() - make_interval(secs => :access_seconds::int)
           AND NOT EXISTS (
               SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id AND t.expires_at > now()
           ))
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: purge_login_failures(window_seconds)$
-- How many failed logins that left the window were deleted.
WITH gone AS (
    DELETE FROM login_failures
    WHERE failed_at < now() - make_interval(secs => :window_seconds::int)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: purge_signup_attempts(window_seconds)$
-- How many signup attempts that left the window were deleted.
WITH gone AS (
    DELETE FROM signup_attempts
    WHERE attempted_at < now() - make_interval(secs => :window_seconds::int)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: purge_idempotency_keys()$
-- How many idempotency keys older than 24 hours were deleted.
WITH gone AS (
    DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours' RETURNING 1
)
SELECT count(*) FROM gone;

-- name: purge_trash(days)$
-- How many trashed tasks older than `days` (TRASH_RETENTION_DAYS) were purged. Their owners'
-- task counts are locked first, in one order (the array is made before any row is deleted), as
-- every writer of the count takes it before the rows (migration 0032).
WITH owners AS (
    SELECT user_id FROM task_counts
     WHERE user_id IN (SELECT user_id FROM trash
                        WHERE deleted_at < now() - make_interval(days => :days::int))
     ORDER BY user_id
       FOR UPDATE
), gone AS (
    DELETE FROM trash
     WHERE deleted_at < now() - make_interval(days => :days::int)
       AND user_id = ANY ((SELECT array_agg(user_id) FROM owners)::uuid[])
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: purge_tombstones(days)$
-- How many tombstones (and deletes of the member logs, migration 0049) older than `days`
-- (CHANGES_RETENTION_DAYS) were forgotten; each user's sync_horizon rises to the newest
-- forgotten, so an older since is 410 (do a full sync).
WITH own AS (
    DELETE FROM tombstones WHERE changed_at < now() - make_interval(days => :days::int)
    RETURNING user_id, revision
), held AS (
    DELETE FROM member_changes
     WHERE op = 'delete' AND changed_at < now() - make_interval(days => :days::int)
    RETURNING member_id AS user_id, revision
), gone AS (
    SELECT * FROM own UNION ALL SELECT * FROM held
), horizon AS (
    UPDATE users AS u SET sync_horizon = greatest(u.sync_horizon, g.revision)
      FROM (SELECT user_id, max(revision) AS revision FROM gone GROUP BY user_id) AS g
     WHERE u.id = g.user_id
)
SELECT count(*) FROM gone;
