-- depends: 0032.count-tasks
-- Values that earlier versions stored but could not use (issue 23), moved to what they meant:
-- a time zone PostgreSQL does not know (`localtime`, which Python's zoneinfo lists) failed every
-- all-day write of its account: such accounts go back to UTC, SPEC §8's default. A due of
-- 0001-01-01T00:00:00Z or 9999-12-31T23:59:59.999999Z, or on 0001-01-01 or 9999-12-31, was
-- stored as -infinity or infinity (asyncpg's spelling of those values), which no read gives back
-- as a due: each moves to the nearest due the calendar of server/tasks/dates.py holds.
UPDATE users SET timezone = 'UTC' WHERE timezone NOT IN (SELECT name FROM pg_timezone_names);

UPDATE tasks
   SET due_date = CASE WHEN due_date = '-infinity' THEN '0001-01-01 00:00:00.000001+00'
                       ELSE '9999-12-31 23:59:59.999998+00' END::timestamptz
 WHERE due_date IN ('-infinity', 'infinity');
UPDATE tasks
   SET due_on = CASE WHEN due_on < '0001-01-02' THEN '0001-01-02' ELSE '9999-12-30' END::date
 WHERE due_on < '0001-01-02' OR due_on > '9999-12-30';

UPDATE trash
   SET due_date = CASE WHEN due_date = '-infinity' THEN '0001-01-01 00:00:00.000001+00'
                       ELSE '9999-12-31 23:59:59.999998+00' END::timestamptz
 WHERE due_date IN ('-infinity', 'infinity');
UPDATE trash
   SET due_on = CASE WHEN due_on < '0001-01-02' THEN '0001-01-02' ELSE '9999-12-30' END::date
 WHERE due_on < '0001-01-02' OR due_on > '9999-12-30';
