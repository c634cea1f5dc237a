DELETE FROM purge_lease WHERE name = 'reminders';
DROP TABLE fired_reminders;
DROP INDEX tasks_user_due_asc_idx;
DROP INDEX tasks_user_due_desc_idx;
CREATE INDEX tasks_user_due_asc_idx  ON tasks (user_id, coalesce(due_date, 'infinity'), id);
CREATE INDEX tasks_user_due_desc_idx ON tasks (user_id, coalesce(due_date, '-infinity'), id);
DROP TRIGGER users_timezone ON users;
DROP FUNCTION move_all_day_dues();
DROP TRIGGER tasks_due_at ON tasks;
DROP FUNCTION set_task_due_at();
DROP FUNCTION task_due_at(timestamptz, date, text);
ALTER TABLE tasks
    DROP CONSTRAINT tasks_reminder_due,
    DROP CONSTRAINT tasks_recurrence_due,
    DROP CONSTRAINT tasks_one_due,
    DROP COLUMN reminders,
    DROP COLUMN recurrence_done,
    DROP COLUMN last_completed_at,
    DROP COLUMN recurrence,
    DROP COLUMN due_at,
    DROP COLUMN due_on;
ALTER TABLE users DROP COLUMN timezone;
