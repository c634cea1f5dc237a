-- Reminders (SPEC §8): each open live task's reminders fall due at instants kept in
-- reminder_times (migration 0036: its triggers follow every write of a task's reminders, due,
-- completion and life), one row per task and instant.

-- name: list_reminders({token}, window_from, window_to, after_fire_at, after_task_id, limit)
-- account_ok on every row, and the first `limit` reminders falling due in [window_from,
-- window_to) after (after_fire_at, after_task_id) (null: from the window's start) of the user's
-- own tasks and of the tasks of every list shared with the user (SPEC §11), by fire_at then task
-- (none: one row of nulls beside account_ok). after_fire_at comes as text: the driver would send
-- the first and the last instants of Python's as -infinity and infinity.
WITH account AS (SELECT {token_account_ok} AS ok),
after AS (
  SELECT coalesce(:after_fire_at::text::timestamptz, '-infinity') AS fire_at,  -- before any
         coalesce(:after_task_id::uuid, '00000000-0000-0000-0000-000000000000') AS task_id
)
SELECT account.ok AS account_ok, due.task_id, due.fire_at,
       -- by id, row by row: a join may read every task of the user to find a page's titles
       (SELECT title FROM tasks WHERE user_id = due.user_id AND id = due.task_id) AS title
  FROM account
  LEFT JOIN LATERAL (
    (SELECT r.task_id, r.fire_at, r.user_id
       FROM reminder_times AS r, after
      WHERE r.user_id = :user_id
        AND r.fire_at >= :window_from AND r.fire_at < :window_to
        AND (r.fire_at, r.task_id) > (after.fire_at, after.task_id)
      ORDER BY r.fire_at, r.task_id
      LIMIT :limit)
    UNION ALL
    (SELECT r.task_id, r.fire_at, r.user_id
       FROM list_members AS m
       JOIN reminder_times AS r ON r.user_id = m.owner_id
       JOIN tasks AS t ON t.id = r.task_id AND t.user_id = m.owner_id AND t.list_id = m.list_id,
            after
      WHERE m.member_id = :user_id
        AND r.fire_at >= :window_from AND r.fire_at < :window_to
        AND (r.fire_at, r.task_id) > (after.fire_at, after.task_id)
      ORDER BY r.fire_at, r.task_id
      LIMIT :limit)
    ORDER BY fire_at, task_id
    LIMIT :limit
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

-- name: fire_reminders(late_seconds, batch, mail, push)^
-- handled: how many pending reminders that had fallen due were taken (at most `batch`, the
-- earliest first); fired: how many of those fell due at most late_seconds ago and were not fired
-- before. Each fired one is recorded in fired_reminders, published on channel todo_events to
-- its person (reminder_times.person_id, migration 0043: the assignee of a task in a shared
-- list, else its creator, else the owner) and, for a person who asked (notify), written to
-- the outbox as a mail (`mail`, to a verified address only: nobody is sent reminders at an
-- address they never proved theirs) and a push to each of their subscriptions (`push`), and a
-- delivery to each of their webhooks that takes reminders, in this one statement, so a
-- reminder fires once whatever
-- the number of workers, and one that fell due while the service was stopped fires on start
-- unless it is too late.
-- A writer locks a task, then its reminder rows (the triggers, the cascade of a delete): this
-- takes a reminder with its task's key-share lock (which recording it needs) at once, or passes
-- it by until a later round, so it never waits for a task while holding what its writer needs.
WITH taken AS (
  SELECT r.task_id, r.fire_at, r.person_id
    FROM reminder_times AS r JOIN tasks AS t ON t.id = r.task_id
   WHERE r.pending AND r.fire_at <= now()
   ORDER BY r.fire_at
   LIMIT :batch
     FOR UPDATE OF r SKIP LOCKED
     FOR KEY SHARE OF t SKIP LOCKED
),
due AS (
  UPDATE reminder_times AS r SET pending = false
    FROM taken
   WHERE r.task_id = taken.task_id AND r.fire_at = taken.fire_at
  RETURNING r.task_id, r.fire_at, r.person_id
),
fired AS (
  INSERT INTO fired_reminders (task_id, fire_at)
  SELECT task_id, fire_at FROM due
   WHERE fire_at > now() - make_interval(secs => :late_seconds::int)
  ON CONFLICT DO NOTHING
  RETURNING task_id, fire_at
),
told AS (  -- the task of each fired reminder, read once for the event, the mail and the push
  SELECT t.id AS task_id, d.person_id AS user_id, t.title,
         to_char(f.fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS fire_at
    FROM fired AS f
    JOIN due AS d ON d.task_id = f.task_id AND d.fire_at = f.fire_at
    JOIN tasks AS t ON t.id = f.task_id
),
reminded AS (
  SELECT told.task_id, told.title, told.fire_at, u.id AS user_id, u.email, u.name,
         u.email_verified, u.notify_email, u.notify_push
    FROM told JOIN users AS u ON u.id = told.user_id
   WHERE (:mail AND u.notify_email AND u.email_verified) OR (:push AND u.notify_push)
),
mails AS (
  INSERT INTO outbox (channel, payload)
  SELECT 'mail', jsonb_build_object('kind', 'reminder', 'to', email, 'name', name,
                                    'task_id', task_id, 'title', title, 'fire_at', fire_at,
                                    'user_id', user_id)
    FROM reminded WHERE :mail AND notify_email AND email_verified
),
pushes AS (
  INSERT INTO outbox (channel, payload)
  SELECT 'push', jsonb_build_object('kind', 'reminder', 'subscription_id', s.id,
                                    'task_id', r.task_id, 'title', r.title, 'fire_at', r.fire_at)
    FROM reminded AS r JOIN push_subscriptions AS s ON s.user_id = r.user_id
   WHERE :push AND r.notify_push
),
hooks AS (  -- a delivery to each enabled webhook of the account that takes reminders
  INSERT INTO outbox (channel, webhook_id, payload)
  SELECT 'webhook', w.id,
         jsonb_build_object(
           'message_id', m.id, 'type', 'reminder',
           'body', jsonb_build_object(
             'type', 'reminder', 'id', m.id,
             'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
             'data', jsonb_build_object('task_id', t.task_id, 'title', t.title,
                                        'fire_at', t.fire_at))::text)
    FROM told AS t
    JOIN webhooks AS w ON w.user_id = t.user_id AND w.enabled AND 'reminder' = ANY (w.events)
   CROSS JOIN LATERAL (  -- the same reminder of the same webhook: the same webhook-id
     SELECT 'msg_' || md5(w.id::text || t.task_id::text || t.fire_at) AS id) AS m
)
SELECT (SELECT count(*) FROM due) AS handled,
       (SELECT count(pg_notify('todo_events', json_build_object(
                 'user_id', user_id, 'kind', 'reminder',
                 'reminder', json_build_object(
                    'task_id', task_id, 'title', title, 'fire_at', fire_at))::text))
          FROM told) AS fired;

-- name: purge_fired_reminders()$
-- How many fired reminders were forgotten: those too old to fire again anyway.
WITH gone AS (
  DELETE FROM fired_reminders WHERE fire_at < now() - interval '2 hours' RETURNING 1
)
SELECT count(*) FROM gone;
