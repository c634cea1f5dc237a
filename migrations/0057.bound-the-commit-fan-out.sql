-- depends: 0056.fan-out-in-bulk
-- A sharing owner's few-row commit no longer reads the owner's comments once per entry of
-- member_changes (stamp_circle), and the test of a bulk commit reads a bounded part of its
-- indexes (stamp_in_bulk). Both showed on statistics of emptied tables; the numbers are for an
-- owner with one shared task of 3,000 comments (the second independent review of stop 34,
-- /work/team/findings-s34-review2.md, F1, and the reviews of 0057,
-- /work/team/findings-s35-0057.md, F1, and findings-s35-circle.md, F1).
--
-- 1. stamp_circle (0049), which every commit of a sharing owner runs twice (before and after
-- locking the circle): its holders' branch, `c.object_id IN (SELECT id FROM gone)`, was a
-- nested loop semi join over all of member_changes that ran `gone` again for each entry, and
-- gone's comments leg read all the owner's comments through comments_task_idx: 1.95 s per
-- call at 1,000 comments, 3.7-4.5 s at 3,000. Adding or deleting one comment, editing or
-- completing another task, or editing a task of a private list committed in 1.0-1.4 s at
-- 1,000 comments and 7.7-11.7 s at 3,000: a 503 through the API. Here the same circle is
-- found with each waiting row read once, through the (user_id, revision) index of its table
-- (each probe orders by revision, which only that index gives without a sort), and their
-- holders in one index scan of member_changes for the array of their ids (no join for the
-- statistics to make a nested loop); the tasks of written comments are found among the
-- owner's tasks in one scan: 0.001-0.003 s per call at 3,000 comments, and those commits in
-- 0.02-0.04 s. On analyzed tables of 450,000 member_changes it reads 32-36 buffers a call,
-- as the old one did. stamp_circle_in_bulk is made again from it as 0056 made it.
--
-- 2. An edit of the task that carries the 3,000 comments itself still pays fan_out's nested
-- loops on those statistics (its branches for a written task's comments): 1.36 s, where it
-- was 8-14 s with the old stamp_circle. Counting a written task's comments toward a bulk
-- commit took it to 0.03 s there, but on analyzed tables the twins read all of member_changes
-- (three times, 172 ms at 450,000 entries against 2.4 ms, growing with the table) for every
-- edit of a task with 50 comments: a cost of every healthy deployment for one of emptied
-- statistics, so the bulk test stays 0056's. The way out of both is fan_out's own lookups as
-- bounded index probes, as stamp_circle's are here; then the twins can go.
CREATE OR REPLACE FUNCTION stamp_circle(owner uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    WITH written AS MATERIALIZED (
        (SELECT id AS list_id FROM lists WHERE user_id = owner AND revision IS NULL
          ORDER BY revision)
        UNION
        (SELECT list_id FROM tasks WHERE user_id = owner AND revision IS NULL ORDER BY revision)
        UNION
        SELECT list_id FROM tasks
         WHERE user_id = owner
           AND id = ANY (ARRAY(SELECT task_id FROM comments
                                WHERE user_id = owner AND revision IS NULL ORDER BY revision))
    ), gone AS MATERIALIZED (
        (SELECT id FROM tasks WHERE user_id = owner AND revision IS NULL ORDER BY revision)
        UNION ALL
        (SELECT id FROM tombstones WHERE user_id = owner AND revision IS NULL ORDER BY revision)
        UNION ALL
        (SELECT id FROM comments WHERE user_id = owner AND revision IS NULL ORDER BY revision)
    )
    SELECT ARRAY(SELECT id FROM (
        SELECT owner AS id
        UNION
        SELECT m.member_id FROM list_members AS m
         WHERE m.owner_id = owner
           AND (m.revision IS NULL OR m.list_id IN (SELECT list_id FROM written))
        UNION
        SELECT c.member_id FROM member_changes AS c
         WHERE c.op = 'upsert' AND c.object_id = ANY (ARRAY(SELECT id FROM gone))
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

-- Whether the owner's commit writes in bulk.
--
-- What it costs. 0056 said "at most 50 index entries read per table"; on statistics of emptied
-- tables that was false: its probes of waiting rows took an index on the owner alone
-- (tasks_user_due_desc_idx, comments_task_idx) and read all the owner's tasks and comments,
-- 3,246 buffers for an owner with 2,000 comments, on every commit of a sharing owner. Each
-- probe now orders by revision, which only the (user_id, revision) index of its table gives
-- without a sort, so whatever the statistics it reads at most 50 entries of that index, and
-- the entries left by rows stamped since that no scan or vacuum has yet marked dead. The probe
-- of memberships reads the owner's memberships until one waits. A table those statistics take
-- for empty that spans only a few pages is read whole instead (list_members, membership_ends
-- and tombstones in the tests); at 394 pages tombstones was read through its index.
CREATE OR REPLACE FUNCTION stamp_in_bulk(owner uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT FROM list_members WHERE owner_id = owner AND revision IS NULL)
        OR EXISTS (SELECT FROM membership_ends WHERE user_id = owner)
        OR (SELECT count(*) FROM (
               (SELECT FROM tasks WHERE user_id = owner AND revision IS NULL
                 ORDER BY revision LIMIT 50)
               UNION ALL
               (SELECT FROM comments WHERE user_id = owner AND revision IS NULL
                 ORDER BY revision LIMIT 50)
               UNION ALL
               (SELECT FROM tombstones WHERE user_id = owner AND revision IS NULL
                 ORDER BY revision LIMIT 50)
            ) AS waiting) >= 50
$$;
