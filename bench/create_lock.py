"""What makes one account's concurrent creates wait for each other: the service's create_task
statement from 32 connections at once for one account (as `make bench`'s create workload
sends them), with the parts that lock a row of the account until commit switched off in turn,
the variants alternating round by round, on an account holding 100 tasks.

    .venv/bin/python -m bench.create_lock [seconds per run] [rounds]

Rows locked until commit: task_counts (the quota: claim_room's `FOR UPDATE`, migration 0061,
then the count trigger's update), list_counts (the same two, the list's counts) and users (the
revision: claim_room's update for a create that is its own transaction, migration 0059; the
commit stamp's deferred trigger for any other). While one transaction holds them, the account's next
create waits, and the commit's WAL flush is inside that wait: creates of one account commit
one at a time, where writers of different rows share their flushes. "no locks" is the plain
reference server's INSERT (bench/plain.py): none of them; "the strict quota's count alone" is
that INSERT with the kept count issue 29 asks for a strict quota, and nothing else. It runs
on a database of its own (bench/create_cost.py's), with synchronous_commit as the server has it.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import defaultdict

import asyncpg

from bench import create_cost
from bench.create_cost import Part
from server.db.pool import init_connection
from server.db.queries import load_queries
from server.tasks.fields import placed_fields

CONNECTIONS = 32
FIELDS = {
    "title": "a task of the lock bench",
    "priority": "high",
    "tags": [],
    "is_completed": False,
}
PLAIN = (
    "INSERT INTO tasks (user_id, list_id, title, priority)"
    " SELECT $1, id, $2, 'high' FROM lists WHERE user_id = $1 AND is_inbox RETURNING id"
)
# The plain INSERT with the one thing issue 29 asks of every create besides: a strict quota, a
# kept count under a lock until commit (no revision, no list counts, no trigger).
QUOTA_ONLY = (
    "WITH room AS (UPDATE task_counts SET tasks = tasks + 1"
    " WHERE user_id = $1 AND tasks < 10000000 RETURNING user_id)"
    " INSERT INTO tasks (user_id, list_id, title, priority)"
    " SELECT $1, id, $2, 'high' FROM lists"
    " WHERE user_id = $1 AND is_inbox AND EXISTS (SELECT FROM room) RETURNING id"
)

# What a run created goes, with no trash or tombstone, and the counts are the truth again.
RESET = """
ALTER TABLE tasks DISABLE TRIGGER USER;
DELETE FROM tasks WHERE title = 'a task of the lock bench';
ALTER TABLE tasks ENABLE TRIGGER USER;
UPDATE task_counts AS c SET tasks = (SELECT count(*) FROM tasks AS t WHERE t.user_id = c.user_id);
UPDATE list_counts AS c
   SET tasks = (SELECT count(*) FROM tasks AS t WHERE t.list_id = c.list_id),
       top_level = (SELECT count(*) FROM tasks AS t
                     WHERE t.list_id = c.list_id AND t.parent_id IS NULL);
"""


def variants() -> list[tuple[Part, str | None]]:
    """(the triggers switched off, the statement instead of create_task's)."""
    stamp = create_cost.triggers("tasks", "tasks_mark_changed", "tasks_stamp_revisions")
    counts = create_cost.triggers("tasks", "tasks_count")
    both = Part("", stamp.off + counts.off, stamp.on + counts.on)
    return [
        (Part("all on (create_task)", (), ()), None),
        (Part("without the revision (neither stamp)", stamp.off, stamp.on, alone=False), None),
        (
            Part(
                "plain INSERT, counts' trigger off (no quota or count lock)", counts.off, counts.on
            ),
            PLAIN,
        ),
        (Part("plain INSERT and the strict quota's count alone", both.off, both.on), QUOTA_ONLY),
        (Part("plain INSERT, stamp and counts off (no locks)", both.off, both.on), PLAIN),
    ]


async def run(
    dsn: str, user: tuple[str, str], plain: str | None, seconds: float, alone: bool = True
) -> float:
    """Creates a second from CONNECTIONS connections for `seconds`."""
    queries, fields = load_queries(), placed_fields(dict(FIELDS))
    done = 0
    deadline = time.monotonic() + seconds

    async def one(conn: asyncpg.Connection) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            if plain is not None:
                assert await conn.fetchval(plain, user[0], FIELDS["title"]) is not None
            else:
                row = await queries.create_task(
                    conn,
                    user_id=user[0],
                    session_id=user[1],
                    token_hash=None,
                    required_role="editor",  # create_task's x-required-role
                    quota=10_000_000,
                    alone=alone,
                    **fields,
                )
                assert row is not None
                assert row["id"] is not None
            done += 1

    conns = [await asyncpg.connect(dsn) for _ in range(CONNECTIONS)]
    try:
        for conn in conns:
            await init_connection(conn)
        started = time.monotonic()
        await asyncio.gather(*(one(conn) for conn in conns))
        return done / (time.monotonic() - started)
    finally:
        for conn in conns:
            await conn.close()


async def measure(dsn: str, seconds: float, rounds: int) -> None:
    user = create_cost.seed(dsn, 100)
    admin = await asyncpg.connect(dsn)
    results: dict[str, list[float]] = defaultdict(list)
    try:
        for r in range(rounds):
            order = variants() if r % 2 == 0 else variants()[::-1]
            for part, plain in order:
                for statement in part.off:
                    await admin.execute(statement)
                try:
                    results[part.name].append(await run(dsn, user, plain, seconds, part.alone))
                finally:
                    for statement in part.on:
                        await admin.execute(statement)
                await admin.execute(RESET)
    finally:
        await admin.close()
    base = statistics.mean(results[variants()[0][0].name])
    print(f"Creates a second for one account from {CONNECTIONS} connections, mean of {rounds}")
    print("| variant | creates/s | over all on |")
    print("|---|---:|---:|")
    for part, _ in variants():
        mean = statistics.mean(results[part.name])
        print(f"| {part.name} | {mean:,.0f} | {mean / base:.2f} |")


def main() -> None:
    a = sys.argv[1:]
    seconds, rounds = float(a[0]) if a else 5.0, int(a[1]) if len(a) > 1 else 4
    asyncio.run(measure(create_cost.fresh_database(), seconds, rounds))


if __name__ == "__main__":
    main()
