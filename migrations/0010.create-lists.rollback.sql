DROP TRIGGER users_create_inbox ON users;
DROP FUNCTION create_inbox();
DROP TABLE lists;
DROP FUNCTION next_position();
DROP SEQUENCE positions;
