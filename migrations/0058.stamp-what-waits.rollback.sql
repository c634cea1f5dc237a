-- Back to 0057's stamp: every claim one per user, every commit numbering all four tables.
CREATE FUNCTION claim_revision(owner uuid) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    claims text := coalesce(current_setting('todo.revision_claims', true), '');
BEGIN
    IF strpos(claims, owner::text) > 0 THEN
        RETURN false;
    END IF;
    PERFORM set_config('todo.revision_claims', claims || owner::text || ' ', true);
    RETURN true;
END
$$;

DROP TRIGGER tasks_stamp_revisions ON tasks;
DROP TRIGGER lists_stamp_revisions ON lists;
DROP TRIGGER tombstones_stamp_revisions ON tombstones;
DROP TRIGGER comments_stamp_revisions ON comments;
DROP TRIGGER membership_ends_stamp_revisions ON membership_ends;
CREATE CONSTRAINT TRIGGER tasks_stamp_revisions AFTER INSERT OR UPDATE ON tasks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER lists_stamp_revisions AFTER INSERT OR UPDATE ON lists
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER tombstones_stamp_revisions AFTER INSERT OR UPDATE ON tombstones
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER comments_stamp_revisions AFTER INSERT OR UPDATE ON comments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER membership_ends_stamp_revisions AFTER INSERT ON membership_ends
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (claim_revision(NEW.user_id))
    EXECUTE FUNCTION stamp_revisions();
DROP FUNCTION claim_revision(uuid, text);

CREATE FUNCTION stamp_rows(owner uuid, started bigint, zone text) RETURNS bigint
LANGUAGE plpgsql SET enable_nestloop = off AS $$
DECLARE
    base bigint := started;
BEGIN
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
    RETURN base;
END
$$;

CREATE OR REPLACE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid := NEW.user_id;
    sharing boolean;
    circle uuid[];
    locked uuid[] := '{}';
    started bigint;  -- the user's revision before this transaction's block
    zone text;
    taken bigint;
    bulk boolean;  -- a commit that writes in bulk fans out with hash joins
BEGIN
    PERFORM set_config('todo.revision_claims',
                       replace(current_setting('todo.revision_claims', true), owner::text || ' ',
                               ''),
                       true);
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
    taken := stamp_rows(owner, started, zone);
    IF taken > started THEN
        UPDATE users SET revision = taken WHERE id = owner;
        PERFORM pg_notify('todo_events',
                          json_build_object('user_id', owner, 'kind', 'change')::text);
    END IF;
    RETURN NULL;
END
$$;
DROP FUNCTION stamp_rows(uuid, bigint, text, text[]);
