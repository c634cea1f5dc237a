DROP TRIGGER tasks_reminder_times_delete ON tasks;
DROP TRIGGER tasks_reminder_times_update ON tasks;
DROP TRIGGER tasks_reminder_times_insert ON tasks;
DROP FUNCTION keep_reminder_times();
DROP FUNCTION reminder_fire_times(jsonb, timestamptz);
DROP TABLE reminder_times;
CREATE INDEX tasks_reminding_idx ON tasks (user_id) WHERE reminders <> '[]' AND NOT is_completed;
