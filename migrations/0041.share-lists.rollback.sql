DROP FUNCTION role_reaches(text, text);
DROP FUNCTION list_role(uuid, uuid, uuid);
DROP TABLE list_members;
DROP FUNCTION unassign_former_member();
DROP FUNCTION refuse_shared_inbox();
ALTER TABLE tasks DROP COLUMN created_by, DROP COLUMN assignee_id, DROP COLUMN completed_by;
