-- depends: 0035.bound-dates-and-zones
-- Reminders as rows (issue 23): reminder_times holds each instant an open live task reminds at,
-- one row per (task, fire_at), kept in step with tasks by the triggers below, so the reminders
-- listing reads one user's range of an index by (user_id, fire_at) and the scheduler reads only
-- what has fallen due (the `pending` index), whatever the number of accounts and tasks.
--
-- Triggers, not the writing statements: a task's fire times move with its reminders, its due
-- (due_at, which the tasks_due_at trigger sets, and the users_timezone trigger moves for
-- all-day tasks when the owner's zone changes), its completion (also by the completion cascade
-- of migration 0011) and its life (trash with its descendants, restore, account deletion): six
-- statements and three triggers and cascades write those, and every later writer would have
-- to remember. A trigger sees them all; its WHEN clause keeps it from running for a write that
-- changes none of them (a task without reminders costs nothing). No foreign key: its check on
-- each row inserted cost more than the rest of the trigger, and its cascade would run for
-- every deleted task; the rows are the trigger's, written for the very task it fires for.
CREATE TABLE reminder_times (
    task_id uuid        NOT NULL,
    fire_at timestamptz NOT NULL,
    user_id uuid        NOT NULL,
    -- not yet seen by the scheduler: it fires (or, more than an hour late, drops) it and clears it
    pending boolean     NOT NULL DEFAULT true,
    PRIMARY KEY (task_id, fire_at)
);
-- GET /reminders: one user's window by fire_at then task (the keyset of its cursor).
CREATE INDEX reminder_times_user_idx ON reminder_times (user_id, fire_at, task_id);
-- The scheduler: what falls due, and nothing it has already seen.
CREATE INDEX reminder_times_pending_idx ON reminder_times (fire_at) WHERE pending;
-- Both read reminder_times now.
DROP INDEX tasks_reminding_idx;

-- The instants a task's reminders fall due at: `at`, or `before_due` counted back from
-- the instant it counts as due (due_at: a recurring task's next due), in UTC whatever the
-- session's zone.
CREATE FUNCTION reminder_fire_times(reminders jsonb, due_at timestamptz) RETURNS timestamptz[]
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(r.fire_at), '{}')
      FROM (SELECT CASE WHEN e ? 'at' THEN (e ->> 'at')::timestamptz
                        ELSE ((due_at AT TIME ZONE 'UTC') - (e ->> 'before_due')::interval)
                             AT TIME ZONE 'UTC' END
              FROM jsonb_array_elements(reminders) AS e) AS r (fire_at)
     WHERE r.fire_at IS NOT NULL
$$;

-- A written task's rows become its fire times (none once completed or deleted): the rows that
-- stay keep their `pending`, so a reminder the scheduler has seen is not seen again; a new row is
-- pending (fired_reminders still stops a second firing of an instant that comes back).
CREATE FUNCTION keep_reminder_times() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    times timestamptz[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM reminder_times WHERE task_id = OLD.id;
        RETURN NULL;
    END IF;
    times := CASE WHEN NEW.is_completed THEN '{}'
                  ELSE reminder_fire_times(NEW.reminders, NEW.due_at) END;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM reminder_times WHERE task_id = NEW.id AND fire_at <> ALL (times);
    END IF;
    INSERT INTO reminder_times (task_id, fire_at, user_id)
    SELECT NEW.id, fire_at, NEW.user_id FROM unnest(times) AS fire_at
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- A task has rows exactly while it is open with reminders.
CREATE TRIGGER tasks_reminder_times_insert AFTER INSERT ON tasks
    FOR EACH ROW WHEN (NEW.reminders <> '[]' AND NOT NEW.is_completed)
    EXECUTE FUNCTION keep_reminder_times();
CREATE TRIGGER tasks_reminder_times_update AFTER UPDATE ON tasks
    FOR EACH ROW WHEN ((OLD.reminders <> '[]' OR NEW.reminders <> '[]')
                       AND (OLD.reminders IS DISTINCT FROM NEW.reminders
                            OR OLD.due_at IS DISTINCT FROM NEW.due_at
                            OR OLD.is_completed <> NEW.is_completed))
    EXECUTE FUNCTION keep_reminder_times();
CREATE TRIGGER tasks_reminder_times_delete AFTER DELETE ON tasks
    FOR EACH ROW WHEN (OLD.reminders <> '[]' AND NOT OLD.is_completed)
    EXECUTE FUNCTION keep_reminder_times();

-- The reminders of today's tasks. Those that fell due over an hour ago are not pending: the
-- scheduler would only drop them (LATE_SECONDS of server/system/reminders.py).
INSERT INTO reminder_times (task_id, fire_at, user_id, pending)
SELECT t.id, f.fire_at, t.user_id, f.fire_at > now() - interval '1 hour'
  FROM tasks AS t, unnest(reminder_fire_times(t.reminders, t.due_at)) AS f (fire_at)
 WHERE t.reminders <> '[]' AND NOT t.is_completed
ON CONFLICT DO NOTHING;  -- two reminders of a task at one instant
