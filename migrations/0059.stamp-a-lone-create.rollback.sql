-- Back to 0020's trigger: every inserted task waits for the commit stamp.
DROP TRIGGER tasks_mark_changed ON tasks;
CREATE TRIGGER tasks_mark_changed BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION mark_changed();
