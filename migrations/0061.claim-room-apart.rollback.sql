-- Roll back the code with it: create_task (sql/tasks.sql) calls claim_room.
DROP FUNCTION claim_room(uuid, uuid, integer, boolean);
