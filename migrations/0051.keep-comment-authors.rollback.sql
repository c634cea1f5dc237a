ALTER TABLE comments DROP COLUMN author_name;
