-- depends: 0051.keep-comment-authors
-- A task's assignee is its list's owner or one of its members (SPEC §11). Creating and
-- updating a task check it (422); a removal clears the member's assignments (0041). What else
-- puts a task in a list, moving it (its subtasks with it) or restoring it from the trash (where
-- it kept its assignee, 0048, while the member may have left), clears an assignee who is no one
-- of the list it lands in, in the write itself: the feed, the reminders (0043) and the listing's
-- assignee filter then see the task as unassigned.
CREATE FUNCTION drop_foreign_assignee() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF list_role(NEW.assignee_id, NEW.user_id, NEW.list_id) IS NULL THEN
        NEW.assignee_id := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tasks_drop_foreign_assignee BEFORE INSERT ON tasks
    FOR EACH ROW WHEN (NEW.assignee_id IS NOT NULL)
    EXECUTE FUNCTION drop_foreign_assignee();

CREATE TRIGGER tasks_drop_foreign_assignee_on_move BEFORE UPDATE OF list_id ON tasks
    FOR EACH ROW WHEN (NEW.assignee_id IS NOT NULL AND NEW.list_id IS DISTINCT FROM OLD.list_id)
    EXECUTE FUNCTION drop_foreign_assignee();

-- The tasks moved or restored so before this migration.
UPDATE tasks SET assignee_id = NULL
 WHERE assignee_id IS NOT NULL AND list_role(assignee_id, user_id, list_id) IS NULL;
