ALTER TABLE tasks
    DROP COLUMN parent_key,
    DROP COLUMN position,
    DROP COLUMN parent_id,
    DROP COLUMN list_id;
