-- depends: 0050.make-access-tokens
-- An imported comment written by someone who is not the importer (SPEC §13: an export's comments
-- by the list's members) has no author here (author_id null, as a deleted account's comment), and
-- keeps that person's name as text, so the importer's next export names them again. Null for
-- every comment written here.
ALTER TABLE comments
    ADD COLUMN author_name text CHECK (author_name IS NULL OR length(author_name) BETWEEN 1 AND 100);
