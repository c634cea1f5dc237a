DROP TRIGGER tasks_drop_foreign_assignee_on_move ON tasks;
DROP TRIGGER tasks_drop_foreign_assignee ON tasks;
DROP FUNCTION drop_foreign_assignee();
