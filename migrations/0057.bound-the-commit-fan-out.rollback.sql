-- 0049's stamp_circle, and its twin made again from it as 0056 made it.
CREATE OR REPLACE FUNCTION stamp_circle(owner uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    WITH written AS (
        SELECT id AS list_id FROM lists WHERE user_id = owner AND revision IS NULL
        UNION
        SELECT list_id FROM tasks WHERE user_id = owner AND revision IS NULL
        UNION
        SELECT t.list_id FROM comments AS k JOIN tasks AS t ON t.id = k.task_id
         WHERE k.user_id = owner AND k.revision IS NULL AND t.user_id = owner
    ), gone AS (
        SELECT id FROM tasks WHERE user_id = owner AND revision IS NULL
        UNION ALL
        SELECT id FROM tombstones WHERE user_id = owner AND revision IS NULL
        UNION ALL
        SELECT id FROM comments WHERE user_id = owner AND revision IS NULL
    )
    SELECT ARRAY(SELECT id FROM (
        SELECT owner AS id
        UNION
        SELECT m.member_id FROM list_members AS m
         WHERE m.owner_id = owner
           AND (m.revision IS NULL OR m.list_id IN (SELECT list_id FROM written))
        UNION
        SELECT c.member_id FROM member_changes AS c
         WHERE c.op = 'upsert' AND c.object_id IN (SELECT id FROM gone)
        UNION
        SELECT member_id FROM membership_ends WHERE user_id = owner
    ) AS c ORDER BY id)
$$;
DROP FUNCTION stamp_circle_in_bulk(uuid);
DO $$
BEGIN
    EXECUTE regexp_replace(pg_get_functiondef('stamp_circle(uuid)'::regprocedure),
                           'FUNCTION [^(]*stamp_circle\(', 'FUNCTION stamp_circle_in_bulk(');
END
$$;
ALTER FUNCTION stamp_circle_in_bulk(uuid) SET enable_nestloop = off;

-- 0056's stamp_in_bulk, its probes unordered.
CREATE OR REPLACE FUNCTION stamp_in_bulk(owner uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
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
