-- depends: 0057.bound-the-commit-fan-out
-- The commit stamp numbers only the tables the transaction wrote (issue 29: a create's cost).
--
-- stamp_rows (0055) ran four UPDATE ... FROM statements at every commit, one for each table
-- whose rows wait for a revision (lists, tasks, comments, tombstones), each with its window and
-- index probe, though a commit writes mostly one of them: a task's create waits only in tasks.
-- Now each table's claim names its table (claim_revision(owner, table), in the stamp triggers'
-- WHEN, as every write that leaves a row waiting runs it), the transaction's claims say which
-- of the owner's tables wait, and stamp_rows numbers those, in the same order as before (lists,
-- tasks, comments, tombstones; by creation, then id). A row waits only until its own
-- transaction commits, so the rows a stamp finds waiting are the transaction's own, and each
-- was claimed with its table. A claim's first for its user still queues the one stamp, and the
-- stamp still releases them all (a row written after it, once a constraint was made immediate,
-- claims again).

-- Whether this is the transaction's first claim of the user (queue the stamp); the table is
-- recorded either way ("<user>:<table> ", transaction-local: a savepoint rolled back takes it
-- back with the row).
CREATE FUNCTION claim_revision(owner uuid, tbl text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    claims text := coalesce(current_setting('todo.revision_claims', true), '');
    claim text := owner::text || ':' || tbl || ' ';
BEGIN
    IF strpos(claims, claim) > 0 THEN
        RETURN false;
    END IF;
    PERFORM set_config('todo.revision_claims', claims || claim, true);
    RETURN strpos(claims, owner::text) = 0;
END
$$;

DROP TRIGGER tasks_stamp_revisions ON tasks;
DROP TRIGGER lists_stamp_revisions ON lists;
DROP TRIGGER tombstones_stamp_revisions ON tombstones;
DROP TRIGGER comments_stamp_revisions ON comments;
DROP TRIGGER membership_ends_stamp_revisions ON membership_ends;
CREATE CONSTRAINT TRIGGER tasks_stamp_revisions AFTER INSERT OR UPDATE ON tasks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id, 'tasks') ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER lists_stamp_revisions AFTER INSERT OR UPDATE ON lists
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id, 'lists') ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER tombstones_stamp_revisions AFTER INSERT OR UPDATE ON tombstones
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id, 'tombstones')
               ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER comments_stamp_revisions AFTER INSERT OR UPDATE ON comments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id, 'comments')
               ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
-- A membership ended takes its owner's stamp even when the owner's account (and list) is gone.
CREATE CONSTRAINT TRIGGER membership_ends_stamp_revisions AFTER INSERT ON membership_ends
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (claim_revision(NEW.user_id, 'membership_ends'))
    EXECUTE FUNCTION stamp_revisions();
DROP FUNCTION claim_revision(uuid);

-- 0055's numberings, each run only for a table in `tables`.
CREATE FUNCTION stamp_rows(owner uuid, started bigint, zone text, tables text[]) RETURNS bigint
LANGUAGE plpgsql SET enable_nestloop = off AS $$
DECLARE
    base bigint := started;
BEGIN
    IF 'lists' = ANY (tables) THEN
        WITH waiting AS (
            SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
              FROM lists WHERE user_id = owner AND revision IS NULL
        ), stamped AS (
            UPDATE lists AS l SET revision = base + w.n
              FROM waiting AS w
             WHERE l.id = w.id AND l.user_id = owner AND l.revision IS NULL
            RETURNING w.n
        )
        SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    END IF;
    IF 'tasks' = ANY (tables) THEN
        WITH waiting AS (
            SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
              FROM tasks WHERE user_id = owner AND revision IS NULL
        ), stamped AS (
            UPDATE tasks AS t
               SET revision = base + w.n,
                   due_at = CASE WHEN t.due_on IS NULL THEN t.due_at
                                 ELSE task_due_at(NULL, t.due_on, zone) END
              FROM waiting AS w
             WHERE t.id = w.id AND t.user_id = owner AND t.revision IS NULL
            RETURNING w.n
        )
        SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    END IF;
    IF 'comments' = ANY (tables) THEN
        WITH waiting AS (
            SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
              FROM comments WHERE user_id = owner AND revision IS NULL
        ), stamped AS (
            UPDATE comments AS c SET revision = base + w.n
              FROM waiting AS w
             WHERE c.id = w.id AND c.user_id = owner AND c.revision IS NULL
            RETURNING w.n
        )
        SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    END IF;
    IF 'tombstones' = ANY (tables) THEN
        WITH waiting AS (
            SELECT id, row_number() OVER (ORDER BY changed_at, id) AS n
              FROM tombstones WHERE user_id = owner AND revision IS NULL
        ), stamped AS (
            UPDATE tombstones AS s SET revision = base + w.n
              FROM waiting AS w
             WHERE s.id = w.id AND s.user_id = owner AND s.revision IS NULL
            RETURNING w.n
        )
        SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    END IF;
    RETURN base;
END
$$;
DROP FUNCTION stamp_rows(uuid, bigint, text);

-- 0056's, the owner's claims read (which tables wait) as they are released.
CREATE OR REPLACE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid := NEW.user_id;
    claims text := coalesce(current_setting('todo.revision_claims', true), '');
    tables text[] := ARRAY(SELECT m[1] FROM regexp_matches(claims, owner::text || ':([a-z_]+) ',
                                                           'g') AS m);
    sharing boolean;
    circle uuid[];
    locked uuid[] := '{}';
    started bigint;  -- the user's revision before this transaction's block
    zone text;
    taken bigint;
    bulk boolean;  -- a commit that writes in bulk fans out with hash joins
BEGIN
    PERFORM set_config('todo.revision_claims',
                       regexp_replace(claims, owner::text || ':[a-z_]+ ', '', 'g'), true);
    -- An owner whose lists never had members locks their row as 0040 did. Else the circle, in
    -- id order; a membership committed while this waited joins it: locked too (out of order
    -- only in that race, or an owner's first membership's; a deadlock's victim is run again by
    -- the service). An owner gone (deleted in this transaction) may have memberships ended.
    SELECT shares INTO sharing FROM users WHERE id = owner;
    IF sharing IS NOT DISTINCT FROM false THEN
        SELECT revision, timezone, shares INTO started, zone, sharing FROM users
         WHERE id = owner FOR NO KEY UPDATE;
        locked := ARRAY[owner];
    END IF;
    IF sharing IS NOT false THEN  -- (null: the account is gone)
        bulk := stamp_in_bulk(owner);
        circle := CASE WHEN bulk THEN stamp_circle_in_bulk(owner) ELSE stamp_circle(owner) END;
        WHILE NOT circle <@ locked LOOP
            PERFORM FROM users WHERE id = ANY (circle) AND NOT id = ANY (locked)
             ORDER BY id FOR NO KEY UPDATE;
            locked := locked || circle;
            circle := CASE WHEN bulk THEN stamp_circle_in_bulk(owner) ELSE stamp_circle(owner) END;
        END LOOP;
        IF circle <> ARRAY[owner] AND bulk THEN
            PERFORM fan_out_in_bulk(owner);
        ELSIF circle <> ARRAY[owner] THEN
            PERFORM fan_out(owner);
        END IF;
        IF started IS NULL THEN  -- (locked with the circle)
            SELECT revision, timezone INTO started, zone FROM users WHERE id = owner;
        END IF;
    END IF;
    IF started IS NULL THEN  -- the account is gone, its rows with it
        RETURN NULL;
    END IF;
    taken := stamp_rows(owner, started, zone, tables);
    IF taken > started THEN
        UPDATE users SET revision = taken WHERE id = owner;
        PERFORM pg_notify('todo_events',
                          json_build_object('user_id', owner, 'kind', 'change')::text);
    END IF;
    RETURN NULL;
END
$$;
