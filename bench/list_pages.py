"""What a page of one list costs PostgreSQL, with and without the list's newest-first index
(migration 0062), side by side: the default page (newest first, 20 tasks) of a list holding most
of an account of 50,000 tasks, of a list of five in the same account, of the account unfiltered,
and a member's page of a 20,000-task list shared with them, among 400 other accounts of three
small lists each (what makes PostgreSQL's plan for any values misjudge a big list).

    .venv/bin/python -m bench.list_pages [rounds]

Each cell is the median wall time of calls 11-40 of a fresh asyncpg connection, in PostgreSQL's
own plan choice (it keeps the plan for any values from the sixth call when that one is priced
lower). It runs on a database of its own on the embedded server (or DATABASE_URL's server),
made fresh; the index is dropped and made again between the variants.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

import asyncpg
import psycopg

from bench.create_cost import fresh_database, seed
from server.db.pool import init_connection
from server.tasks import listing

INDEX = "tasks_user_list_created_idx"
MAKE = f"CREATE INDEX {INDEX} ON tasks (user_id, list_id, created_at, id)"
CALLS, WARM = 40, 10
SECRET = "bench-list-pages-" * 4  # signs no cursor here: first pages only
CROWD = """
INSERT INTO users (email, name, password_hash)
SELECT 'crowd-' || n || '@example.org', 'crowd', 'x' FROM generate_series(1, 400) AS n;
INSERT INTO lists (user_id, name)
SELECT u.id, 'list ' || k FROM users AS u, generate_series(1, 3) AS k
 WHERE u.email LIKE 'crowd-%';
INSERT INTO tasks (user_id, list_id, title)
SELECT l.user_id, l.id, 'task ' || n FROM lists AS l, generate_series(1, 30) AS n
 WHERE l.user_id IN (SELECT id FROM users WHERE email LIKE 'crowd-%');
"""


async def page_ms(dsn: str, token: dict[str, Any], list_id: str | None) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        query: dict[str, Any] = {"limit": 20, "status": "all", "sort": "created", "order": "desc"}
        if list_id is not None:
            query["list_id"] = list_id
        statement, args = listing.page_request(token, query, SECRET).statement()
        times = []
        for _ in range(CALLS):
            started = time.perf_counter()
            await conn.fetch(statement, *args)
            times.append(time.perf_counter() - started)
        return statistics.median(times[WARM:]) * 1000
    finally:
        await conn.close()


def accounts(dsn: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, str | None]]:
    """The owner's and the member's account check parameters, and the lists paged."""
    owner, family = seed(dsn, 50_000)
    with psycopg.connect(dsn, autocommit=True) as conn:
        inbox = one(conn, "SELECT id FROM lists WHERE user_id = %s AND is_inbox", owner)
        small = one(
            conn, "INSERT INTO lists (user_id, name) VALUES (%s, 'Five') RETURNING id", owner
        )
        conn.execute(
            "INSERT INTO tasks (user_id, list_id, title)"
            " SELECT %s, %s, 'five ' || n FROM generate_series(1, 5) AS n",
            (owner, small),
        )
        shared = one(
            conn, "INSERT INTO lists (user_id, name) VALUES (%s, 'Shared') RETURNING id", owner
        )
        conn.execute(
            "UPDATE tasks SET list_id = %s WHERE id IN"
            " (SELECT id FROM tasks WHERE user_id = %s AND list_id = %s LIMIT 20000)",
            (shared, owner, inbox),
        )
        member = one(
            conn,
            "INSERT INTO users (email, name, password_hash)"
            " VALUES ('list-pages-member@example.org', 'member', 'x') RETURNING id",
        )
        member_family = one(
            conn,
            "INSERT INTO login_families (id, user_id, expires_at)"
            " VALUES (gen_random_uuid(), %s, now() + interval '1 day') RETURNING id",
            member,
        )
        conn.execute(
            "INSERT INTO list_members (list_id, owner_id, member_id, role)"
            " VALUES (%s, %s, %s, 'viewer')",
            (shared, owner, member),
        )
        conn.execute(CROWD)
        conn.execute("VACUUM ANALYZE")
    token = {"user_id": owner, "session_id": family, "token_hash": None}
    viewer = {"user_id": member, "session_id": member_family, "token_hash": None}
    return token, viewer, {"big list": inbox, "list of five": small, "unfiltered": None}


def one(conn: psycopg.Connection[Any], sql: str, *args: Any) -> str:
    row = conn.execute(sql, args).fetchone()
    assert row is not None
    return str(row[0])


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    dsn = fresh_database()
    token, viewer, lists = accounts(dsn)
    columns = [*lists, "member's page"]
    results: dict[tuple[str, str], list[float]] = {}
    variants = ("with the index", "without it")
    for r in range(rounds):
        for variant in variants if r % 2 == 0 else variants[::-1]:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP INDEX IF EXISTS {INDEX}")
                if variant == "with the index":
                    conn.execute(MAKE)
            for name, list_id in lists.items():
                cell = asyncio.run(page_ms(dsn, token, list_id))
                results.setdefault((variant, name), []).append(cell)
            cell = asyncio.run(page_ms(dsn, viewer, None))
            results.setdefault((variant, "member's page"), []).append(cell)
    print(f"ms per page (median of calls {WARM + 1}-{CALLS}), mean of {rounds} rounds")
    print("| variant | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for variant in variants:
        cells = " | ".join(f"{statistics.mean(results[(variant, c)]):.2f}" for c in columns)
        print(f"| {variant} | {cells} |")


if __name__ == "__main__":
    main()
