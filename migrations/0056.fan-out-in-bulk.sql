-- depends: 0055.stamp-in-linear-time
-- A sharing owner's commit fans out (0049's stamp_circle and fan_out) in time linear in what it
-- writes, whatever the statistics say, when it writes in bulk.
--
-- 0055 made the stamp's numbering linear; the fan-out had the same trap. On statistics taken of
-- emptied tables (tasks, comments, member_changes: reltuples 0), fan_out's branches for written
-- tasks and comments were nested loops whose inner side read all the owner's comments, or all
-- of member_changes, again for each written row: a commit of 1,000 updated tasks with a comment
-- each passed 30 s in fan_out alone, 5,000 ran 9 minutes (the independent review of stop 34,
-- /work/team/findings-s34-review.md, F1); in the service asyncpg's timeout ends such a COMMIT
-- in a 503 after holding the owner's and members' rows for 6 s.
--
-- Nested loops are right for the common commit (a few rows: index lookups into member_changes,
-- whatever its size) and a trap for a bulk one; hash joins the reverse (each reads the whole of
-- member_changes once). So each has its twin with nested loops off, made here from its
-- definition rather than written again, and a commit in bulk (50 or more rows of tasks,
-- comments and tombstones waiting for a revision, or any membership begun, changed or ended:
-- a join brings a whole list) runs the twins. A later change to fan_out or stamp_circle makes
-- its twin again the same way (tests/test_stale_statistics.py checks that they match).
DO $$
BEGIN
    EXECUTE regexp_replace(pg_get_functiondef('fan_out(uuid)'::regprocedure),
                           'FUNCTION [^(]*fan_out\(', 'FUNCTION fan_out_in_bulk(');
    EXECUTE regexp_replace(pg_get_functiondef('stamp_circle(uuid)'::regprocedure),
                           'FUNCTION [^(]*stamp_circle\(', 'FUNCTION stamp_circle_in_bulk(');
END
$$;
ALTER FUNCTION fan_out_in_bulk(uuid) SET enable_nestloop = off;
ALTER FUNCTION stamp_circle_in_bulk(uuid) SET enable_nestloop = off;

-- Whether the owner's commit writes in bulk (at most 50 index entries read per table).
CREATE FUNCTION stamp_in_bulk(owner uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT FROM list_members WHERE owner_id = owner AND revision IS NULL)
        OR EXISTS (SELECT FROM membership_ends WHERE user_id = owner)
        OR (SELECT count(*) FROM (
               (SELECT FROM tasks WHERE user_id = owner AND revision IS NULL LIMIT 50)
               UNION ALL
               (SELECT FROM comments WHERE user_id = owner AND revision IS NULL LIMIT 50)
               UNION ALL
               (SELECT FROM tombstones WHERE user_id = owner AND revision IS NULL LIMIT 50)
            ) AS waiting) >= 50
$$;

-- 0055's, the fan-out's twins run for a commit in bulk.
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
