DROP TRIGGER tasks_complete_children ON tasks;
DROP FUNCTION complete_children();
ALTER TABLE tasks
    DROP COLUMN parent_key,
    DROP COLUMN position,
    DROP COLUMN parent_id,
    DROP COLUMN list_id;
