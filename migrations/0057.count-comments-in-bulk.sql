-- depends: 0056.fan-out-in-bulk
-- A commit that writes a task carrying many comments is a commit in bulk too (0056's
-- stamp_in_bulk counted only the rows waiting for a revision).
--
-- fan_out reads every comment of each written task: to its list's members who do not hold the
-- task there (moved in, back from the trash), and for deletes to their holders who no longer
-- see its list. On statistics of emptied tables those joins are nested loops reading the whole
-- of member_changes again for each comment: a title edit of one task with 2,000 comments in a
-- shared list committed in 3.9-4.9 s, one with 3,000 comments moved in 9 s (the second
-- independent review of stop 34, /work/team/findings-s34-review2.md, F1), past the service's
-- 5 s statement timeout: a 503. So 50 or more comments on the written tasks (the first 50 of
-- them: 50 written tasks are in bulk already) make the commit run the twins.
--
-- What it costs. 0056 said "at most 50 index entries read per table"; on statistics of emptied
-- tables that was false: its probes of waiting rows took an index on the owner alone
-- (tasks_user_due_desc_idx, comments_task_idx) and read all the owner's tasks and comments,
-- 3,246 buffers for an owner with 2,000 comments, on every commit of a sharing owner. Each
-- probe of rows now orders by the columns of the index it means ((user_id, revision); for a
-- written task's comments (user_id, task_id, created_at)), which no other index gives without
-- a sort, so whatever the statistics it reads at most 50 entries of that index (at most 50
-- lookups of comments_task_idx, one per written task looked at, 50 entries in all), and the
-- entries left by rows stamped since that no scan or vacuum has yet marked dead. The probe of
-- memberships reads the owner's memberships until one waits. A table those statistics take
-- for empty that spans only a few pages is read whole instead (list_members, membership_ends
-- and tombstones in the tests); at 394 pages tombstones was read through its index.
CREATE OR REPLACE FUNCTION stamp_in_bulk(owner uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    WITH written AS (
        SELECT id FROM tasks WHERE user_id = owner AND revision IS NULL ORDER BY revision LIMIT 50
    )
    SELECT EXISTS (SELECT FROM list_members WHERE owner_id = owner AND revision IS NULL)
        OR EXISTS (SELECT FROM membership_ends WHERE user_id = owner)
        OR (SELECT count(*) FROM (
               (SELECT FROM written)
               UNION ALL
               (SELECT FROM comments WHERE user_id = owner AND revision IS NULL
                 ORDER BY revision LIMIT 50)
               UNION ALL
               (SELECT FROM tombstones WHERE user_id = owner AND revision IS NULL
                 ORDER BY revision LIMIT 50)
            ) AS waiting) >= 50
        OR (SELECT count(*) FROM (
               SELECT FROM written AS t
               CROSS JOIN LATERAL (SELECT FROM comments AS k
                                    WHERE k.user_id = owner AND k.task_id = t.id
                                    ORDER BY k.created_at LIMIT 50) AS k
               LIMIT 50
            ) AS carried) >= 50
$$;
