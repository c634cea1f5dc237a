"""What every member's feed (migration 0049) costs: PostgreSQL's CPU per create (its backend's,
as bench/create_cost.py measures it) for an owner who shares nothing, with 0049's commit stamp
and with 0043's (the variants alternating block by block), and for a list shared with 1 and
with 50 members; the CPU per read of the change feed for a user who shares nothing, with the
feed's statement of today and with the one before 0049; and the wall time of joining, and of
leaving, a list of 50,000 tasks (one statement and its commit each).

    .venv/bin/python -m bench.member_sync [creates per block] [rounds] [join (that only)]

It runs on a database of its own (bench/create_cost.py's), made fresh.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import asyncpg
import psycopg

from bench import create_cost
from bench.create_cost import backend_cpu, block
from server.db.pool import init_connection
from server.db.queries import load_queries

ROOT = Path(__file__).resolve().parent.parent
JOINED = 50_000


def stamp_0043() -> str:
    """0043's stamp_revisions (0040's with the comments), as 0049's rollback restores it."""
    text = (ROOT / "migrations" / "0049.sync-members.rollback.sql").read_text()
    start = text.index("CREATE OR REPLACE FUNCTION stamp_revisions()")
    return text[start : text.index("$$;", start) + 3]


def stamp_0049() -> str:
    text = (ROOT / "migrations" / "0049.sync-members.sql").read_text()
    start = text.index("CREATE OR REPLACE FUNCTION stamp_revisions()")
    return text[start : text.index("$$;", start) + 3]


def members(dsn: str, owner: str, count: int) -> str:
    """A list of the owner's shared with `count` new accounts (its id)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO lists (user_id, name) VALUES (%s, 'shared') RETURNING id", (owner,)
        ).fetchone()
        assert row is not None
        list_id = str(row[0])
        conn.execute(
            "WITH made AS (INSERT INTO users (email, name, password_hash)"
            " SELECT 'member-' || %s || '-' || i || '@example.org', 'm', 'x'"
            " FROM generate_series(1, %s) AS i RETURNING id)"
            " INSERT INTO list_members (list_id, owner_id, member_id, role)"
            " SELECT %s, %s, id, 'editor' FROM made",
            (list_id, count, list_id, owner),
        )
        return list_id


async def creates(conn: asyncpg.Connection, dsn: str, n: int, rounds: int) -> None:
    plain = create_cost.seed(dsn, 100)
    sharing = {m: create_cost.seed(dsn, 100 + m) for m in (1, 50)}
    lists = {m: members(dsn, user[0], m) for m, user in sharing.items()}
    for m, user in sharing.items():  # their creates go into the shared list
        await conn.execute("UPDATE lists SET is_inbox = false WHERE user_id = $1", user[0])
        await conn.execute("UPDATE lists SET is_inbox = true WHERE id = $1", lists[m])
    results: dict[str, list[float]] = defaultdict(list)
    variants = [("0049 stamp", stamp_0049()), ("0043 stamp (before)", stamp_0043())]
    for r in range(rounds):
        for name, function in variants if r % 2 == 0 else variants[::-1]:
            await conn.execute(function)
            results[f"shares nothing, {name}"].append(await block(conn, plain, n, alone=False))
        await conn.execute(stamp_0049())
        for m, user in sharing.items():
            results[f"list shared with {m}, 0049 stamp"].append(
                await block(conn, user, n, alone=False)
            )
    print(f"PostgreSQL's CPU µs per create, mean of {rounds} blocks of {n}")
    print("| variant | µs/create |")
    print("|---|---:|")
    for name, values in results.items():
        print(f"| {name} | {statistics.mean(values):,.0f} |")


async def reads(conn: asyncpg.Connection, dsn: str, n: int, rounds: int) -> None:
    """A feed read as server/sync/feed.py makes it: sync_state, then changes_after (and, for a
    user with a member log, member_changes_after), for the last 20 changes."""
    queries = load_queries()
    plain = create_cost.seed(dsn, 1000)
    member = create_cost.seed(dsn, 1001)
    owner = create_cost.seed(dsn, 1002)
    shared = members(dsn, owner[0], 0)
    await conn.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role)"
        " VALUES ($1, $2, $3, 'viewer')",
        shared,
        owner[0],
        member[0],
    )
    await conn.execute(
        "INSERT INTO tasks (user_id, list_id, title, priority)"
        " SELECT $1, $2, 'shared ' || i, 'low' FROM generate_series(1, 10) AS i",
        owner[0],
        shared,
    )

    async def read(user: str, state_sql: str | None) -> None:
        if state_sql is None:
            state = await queries.sync_state(conn, user_id=user)
        else:
            state = await conn.fetchrow(state_sql, user)
        window = {"user_id": user, "since": state["revision"] - 20, "upto": state["revision"]}
        rows = [r async for r in queries.changes_after(conn, **window, live_only=False, limit=501)]
        if state_sql is None and state["member"]:
            rows += [
                r
                async for r in queries.member_changes_after(
                    conn, **window, live_only=False, limit=501
                )
            ]

    variants = {
        "sharing nothing, before 0049": (
            plain[0],
            "SELECT revision, sync_horizon FROM users WHERE id = $1",
        ),
        "sharing nothing, today": (plain[0], None),
        "a member (its log and its own), today": (member[0], None),
    }
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    results: dict[str, list[float]] = defaultdict(list)
    for r in range(rounds):
        for name, (user, state_sql) in (
            variants.items() if r % 2 == 0 else reversed(variants.items())
        ):
            for _ in range(10):  # past the plan cache's first custom plans
                await read(user, state_sql)
            started = backend_cpu(pid)
            for _ in range(n):
                await read(user, state_sql)
            results[name].append((backend_cpu(pid) - started) / n * 1e6)
    print(
        f"PostgreSQL's CPU µs per feed read (the last 20 changes), mean of {rounds} blocks of {n}"
    )
    print("| reader | µs/read |")
    print("|---|---:|")
    for name, values in results.items():
        print(f"| {name} | {statistics.mean(values):,.0f} |")


async def join(conn: asyncpg.Connection, dsn: str) -> None:
    owner = create_cost.seed(dsn, JOINED)
    joiner = create_cost.seed(dsn, 1)
    inbox = await conn.fetchval("SELECT id FROM lists WHERE user_id = $1 AND is_inbox", owner[0])
    await conn.execute("UPDATE lists SET is_inbox = false WHERE id = $1", inbox)
    await conn.execute(
        "INSERT INTO lists (user_id, name, is_inbox) VALUES ($1, 'in', true)", owner[0]
    )
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    timed: list[tuple[float, float]] = []  # (wall s, CPU s of the backend) of each statement
    for statement, args in (
        (
            "INSERT INTO list_members (list_id, owner_id, member_id, role)"
            " VALUES ($1, $2, $3, 'viewer')",
            (inbox, owner[0], joiner[0]),
        ),
        ("DELETE FROM list_members WHERE member_id = $1", (joiner[0],)),
    ):
        started, cpu = time.monotonic(), backend_cpu(pid)
        await conn.execute(statement, *args)
        timed.append((time.monotonic() - started, backend_cpu(pid) - cpu))
        if not len(timed) > 1:
            held = await conn.fetchval(
                "SELECT count(*) FROM member_changes WHERE member_id = $1", joiner[0]
            )
    (join_wall, join_cpu), (leave_wall, leave_cpu) = timed
    print(
        f"Joining a list of {JOINED:,} tasks ({held:,} entries), one statement and its commit:"
        f" {join_wall:.2f} s ({join_cpu:.2f} s of PostgreSQL's CPU);"
        f" leaving it: {leave_wall:.2f} s ({leave_cpu:.2f} s CPU)"
    )


async def measure(dsn: str, n: int, rounds: int, only_join: bool) -> None:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    await conn.execute("SET synchronous_commit = off")
    try:
        if not only_join:
            await creates(conn, dsn, n, rounds)
            await reads(conn, dsn, n, rounds)
        await join(conn, dsn)
    finally:
        await conn.close()


def main() -> None:
    a = sys.argv[1:]
    n, rounds = int(a[0]) if a else 300, int(a[1]) if len(a) > 1 else 4
    only_join = len(a) > 2 and a[2] == "join"
    asyncio.run(measure(create_cost.fresh_database(), n, rounds, only_join))


if __name__ == "__main__":
    main()
