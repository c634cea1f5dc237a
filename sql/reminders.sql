-- Reminders (SPEC §8): each task's reminders fall due at an instant (`at`) or a duration before
-- the instant it counts as due (`before_due`, read by PostgreSQL's ISO 8601 interval syntax).
-- Only open tasks remind; a recurring task's due is always its next one.

-- name: list_reminders({token}, window_from, window_to)
-- account_ok on every row, and the user's reminders falling due in [window_from, window_to) by
-- fire_at then task (none: one row of nulls beside account_ok).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, due.task_id, due.title, due.fire_at
  FROM account
  LEFT JOIN (
    SELECT t.id AS task_id, t.title, r.fire_at
      FROM tasks AS t,
           LATERAL (SELECT CASE WHEN e ? 'at' THEN (e ->> 'at')::timestamptz
                                ELSE t.due_at - (e ->> 'before_due')::interval END AS fire_at
                      FROM jsonb_array_elements(t.reminders) AS e) AS r
     WHERE t.user_id = :user_id AND NOT t.is_completed AND t.reminders <> '[]'
       AND r.fire_at >= :window_from AND r.fire_at < :window_to
  ) AS due ON account.ok
 ORDER BY due.fire_at, due.task_id;

-- name: take_reminder_lease(holder, lease_seconds)$
-- True when this holder now holds the reminder scheduler's lease (free, expired, or its own).
UPDATE purge_lease
SET holder = :holder, leased_until = now() + make_interval(secs => :lease_seconds::int)
WHERE name = 'reminders' AND (holder = :holder OR leased_until < now())
RETURNING true;

-- name: release_reminder_lease(holder)!
-- Nothing: gives the scheduler's lease up (a worker that stops), so another takes it at once.
UPDATE purge_lease SET leased_until = '-infinity' WHERE name = 'reminders' AND holder = :holder;

-- name: fire_reminders(late_seconds)$
-- How many reminders fell due (at most late_seconds ago) and were not yet fired: each is recorded
-- in fired_reminders and published on channel todo_events, in this one statement, so a reminder
-- is fired once whatever the number of workers, and one that fell due while the service was
-- stopped fires on start unless it is too late.
WITH falling AS (
  SELECT t.id AS task_id, t.user_id, t.title, r.fire_at
    FROM tasks AS t,
         LATERAL (SELECT CASE WHEN e ? 'at' THEN (e ->> 'at')::timestamptz
                              ELSE t.due_at - (e ->> 'before_due')::interval END AS fire_at
                    FROM jsonb_array_elements(t.reminders) AS e) AS r
   WHERE t.reminders <> '[]' AND NOT t.is_completed
     AND r.fire_at <= now() AND r.fire_at > now() - make_interval(secs => :late_seconds::int)
),
fired AS (
  INSERT INTO fired_reminders (task_id, fire_at)
  SELECT DISTINCT task_id, fire_at FROM falling
  ON CONFLICT DO NOTHING
  RETURNING task_id, fire_at
)
SELECT count(pg_notify('todo_events', json_build_object(
         'user_id', f.user_id, 'kind', 'reminder',
         'reminder', json_build_object('task_id', f.task_id, 'title', f.title,
                                       'fire_at', to_char(f.fire_at AT TIME ZONE 'UTC',
                                                          'YYYY-MM-DD"T"HH24:MI:SS"Z"')))::text))
  FROM fired JOIN (SELECT DISTINCT task_id, user_id, title, fire_at FROM falling) AS f
       USING (task_id, fire_at);

-- name: purge_fired_reminders()$
-- How many fired reminders were forgotten: those too old to fire again anyway.
WITH gone AS (
  DELETE FROM fired_reminders WHERE fire_at < now() - interval '2 hours' RETURNING 1
)
SELECT count(*) FROM gone;
