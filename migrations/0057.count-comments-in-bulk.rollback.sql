-- 0056's stamp_in_bulk: rows waiting for a revision and memberships only.
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
