-- depends: 0011.place-tasks
-- SPEC §8. Each account has a time zone. A task is due at an instant (due_date) or on a day
-- (due_on, all-day), never both; due_at is the instant it counts as due (an all-day task: the end
-- of its day in its owner's zone), kept by triggers, so filters, sorting and overdue read one
-- indexed column. A task may recur (recurrence {rule, basis}) and carry reminders.
ALTER TABLE users ADD COLUMN timezone text NOT NULL DEFAULT 'UTC';

ALTER TABLE tasks
    ADD COLUMN due_on date,
    ADD COLUMN due_at timestamptz,
    ADD COLUMN recurrence jsonb,
    ADD COLUMN last_completed_at timestamptz,
    ADD COLUMN recurrence_done integer NOT NULL DEFAULT 0, -- advances since the rule was set
    ADD COLUMN reminders jsonb NOT NULL DEFAULT '[]',
    ADD CONSTRAINT tasks_one_due CHECK (due_date IS NULL OR due_on IS NULL),
    ADD CONSTRAINT tasks_recurrence_due CHECK (
        recurrence IS NULL OR due_date IS NOT NULL OR due_on IS NOT NULL),
    ADD CONSTRAINT tasks_reminder_due CHECK (
        due_date IS NOT NULL OR due_on IS NOT NULL
        OR NOT jsonb_path_exists(reminders, '$[*] ? (exists(@.before_due))'));

-- The instant a task counts as due, in its owner's zone.
CREATE FUNCTION task_due_at(due_date timestamptz, due_on date, zone text) RETURNS timestamptz
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(due_date, ((due_on + 1)::timestamp AT TIME ZONE zone))
$$;

CREATE FUNCTION set_task_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.due_at := CASE WHEN NEW.due_on IS NULL THEN NEW.due_date
                       ELSE task_due_at(NULL, NEW.due_on,
                                        (SELECT timezone FROM users WHERE id = NEW.user_id)) END;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_due_at BEFORE INSERT OR UPDATE OF due_date, due_on ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_task_due_at();

-- A new zone moves the end of each all-day task's day.
CREATE FUNCTION move_all_day_dues() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tasks SET due_at = task_due_at(NULL, due_on, NEW.timezone)
     WHERE user_id = NEW.id AND due_on IS NOT NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_timezone AFTER UPDATE OF timezone ON users
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION move_all_day_dues();

UPDATE tasks SET due_at = due_date WHERE due_date IS NOT NULL;

-- The due sort and filters read due_at; undated tasks last in either direction.
DROP INDEX tasks_user_due_asc_idx;
DROP INDEX tasks_user_due_desc_idx;
CREATE INDEX tasks_user_due_asc_idx  ON tasks (user_id, coalesce(due_at, 'infinity'), id);
CREATE INDEX tasks_user_due_desc_idx ON tasks (user_id, coalesce(due_at, '-infinity'), id);

-- Reminders the scheduler has fired (one row each: a reminder fires once, whatever the number
-- of instances), and the lease that elects the one scheduler of the cluster.
CREATE TABLE fired_reminders (
    task_id  uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    fire_at  timestamptz NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, fire_at)
);
INSERT INTO purge_lease (name, holder, leased_until) VALUES ('reminders', '', '-infinity');
-- The tasks that may remind: the scheduler's and the reminders listing's scan.
CREATE INDEX tasks_reminding_idx ON tasks (user_id) WHERE reminders <> '[]' AND NOT is_completed;
-- What the purge of fired reminders looks for.
CREATE INDEX fired_reminders_fire_at_idx ON fired_reminders (fire_at);
