-- Back to 0020's trigger: every inserted task waits for the commit stamp.
DROP TRIGGER tasks_mark_changed ON tasks;
CREATE TRIGGER tasks_mark_changed BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION mark_changed();
-- Roll back the code with it: create_task's `stamp` (sql/tasks.sql) gives a lone create its
-- revision, which this trigger would take away again, so the commit stamp would bump the
-- owner's revision a second time (a gap in the feed's numbers, a second signal).
