-- 0049's stamp_revisions, numbering in place.
CREATE OR REPLACE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid := NEW.user_id;
    sharing boolean;
    circle uuid[];
    locked uuid[] := '{}';
    started bigint;  -- the user's revision before this transaction's block
    zone text;
    base bigint;
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
    base := started;
    WITH waiting AS (
        SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
          FROM lists WHERE user_id = owner AND revision IS NULL
    ), stamped AS (
        UPDATE lists AS l SET revision = base + w.n FROM waiting AS w WHERE l.id = w.id
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
         WHERE t.id = w.id
        RETURNING w.n
    )
    SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    WITH waiting AS (
        SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
          FROM comments WHERE user_id = owner AND revision IS NULL
    ), stamped AS (
        UPDATE comments AS c SET revision = base + w.n FROM waiting AS w WHERE c.id = w.id
        RETURNING w.n
    )
    SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    WITH waiting AS (
        SELECT id, row_number() OVER (ORDER BY changed_at, id) AS n
          FROM tombstones WHERE user_id = owner AND revision IS NULL
    ), stamped AS (
        UPDATE tombstones AS s SET revision = base + w.n FROM waiting AS w WHERE s.id = w.id
        RETURNING w.n
    )
    SELECT base + coalesce(max(n), 0) INTO taken FROM stamped;
    IF taken > started THEN
        UPDATE users SET revision = taken WHERE id = owner;
        PERFORM pg_notify('todo_events',
                          json_build_object('user_id', owner, 'kind', 'change')::text);
    END IF;
    RETURN NULL;
END
$$;

DROP FUNCTION stamp_rows(uuid, bigint, text);
