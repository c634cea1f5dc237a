-- depends: 0054.restate-membership-changes
-- The commit stamp's numberings (0049's stamp_revisions) in time linear in what they stamp,
-- whatever the planner's statistics say.
--
-- Each numbering joined the rows waiting for a revision (the owner's, revision null), numbered
-- in order, back to their table by id. On statistics taken while the table was nearly empty (a
-- new database, a table grown since its last analyze), the plan cached for it was a nested
-- loop that walked the whole table's primary key and numbered the waiting rows again for each
-- row: O(table x waiting). So the COMMIT of 50,000 tasks seeded in one transaction ran for over
-- 12 minutes, and an import's chunk of 1,000 tasks passed the 5 s statement timeout (a valid
-- import of 5,000 tasks answered 503) once earlier writes had grown the table.
--
-- Now the numberings are stamp_rows: each join names the waiting rows on both sides (the
-- (user_id, revision) indexes find them), and runs with nested loops off, so it is a hash or
-- merge join, one pass over each side. (The setting is the function's own: the fan-out and
-- every other statement keep their nested loops.)
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

-- 0049's, its numberings now stamp_rows'.
CREATE OR REPLACE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid := NEW.user_id;
    sharing boolean;
    circle uuid[];
    locked uuid[] := '{}';
    started bigint;  -- the user's revision before this transaction's block
    zone text;
    taken bigint;
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
        circle := stamp_circle(owner);
        WHILE NOT circle <@ locked LOOP
            PERFORM FROM users WHERE id = ANY (circle) AND NOT id = ANY (locked)
             ORDER BY id FOR NO KEY UPDATE;
            locked := locked || circle;
            circle := stamp_circle(owner);
        END LOOP;
        IF circle <> ARRAY[owner] THEN
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
