"""What keeping reminder_times costs a write (issue 23): the service's own create_task and
update_task statements, their parameters made by the service's own functions from the bodies of
`make bench`'s create and update workloads, and from bodies with reminders, on two databases of
one PostgreSQL side by side: `after`, migrated to the newest migration, and `before`, the same
with migration 0036's triggers (KEPT) switched off (the tasks statements are the same text on
both). Each round runs every case on both side by side, statement by statement (which goes first
alternates), each database on a connection of its own that commits without waiting for the disk
(the fsync of a commit is the same on both and would drown what differs); prints the median µs
per statement of each and after/before. Then, as wall time per statement moves by 10-15% on a
busy machine, the time PostgreSQL itself reports spending in the triggers per task written
(EXPLAIN ANALYZE).

    .venv/bin/python -m bench.reminder_writes [rounds] [statements]

On the embedded PostgreSQL of `make bench` (.data/bench-postgres), or DATABASE_URL's server.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import psycopg
from psycopg.types.json import Jsonb

from bench.database import open_database
from server.app import load_plans
from server.config import Settings
from server.db import migrations
from server.db.embedded import create_database, drop_database, with_database
from server.db.pool import connect_options, init_connection
from server.db.queries import load_queries
from server.tasks import fields as task_fields

# migration 0036's triggers, which keep reminder_times ("before" runs without them: rolling the
# migrations back to before 0036 left the statements of today's tables nothing to run on)
KEPT = ("tasks_reminder_times_insert", "tasks_reminder_times_update", "tasks_reminder_times_delete")
PLAIN = {"title": "Benchmark task", "priority": "high", "tags": ["bench"]}  # create.lua's
FIVE = {
    "due_date": datetime(2031, 3, 1, 9, tzinfo=UTC),  # as validation hands it over
    "reminders": [
        {"at": "2031-02-27T09:00:00Z"},
        {"at": "2031-02-28T09:00:00Z"},
        {"before_due": "PT15M"},
        {"before_due": "PT1H"},
        {"before_due": "P1D"},
    ],
}
PRIORITIES = ["low", "medium", "high"]


Case = Callable[[int], tuple[str, int, dict[str, Any]]]


def cases() -> dict[str, Case]:
    """Each case: from the statement's number, which task ("plain" or "five", and which of
    them; "create": none) it writes with which fields. A toggle goes twice to each task, so
    every run leaves the tasks open as it found them."""
    _, with_defaults = load_plans()["create_task"].body_types["application/json"]

    def create(body: dict[str, Any]) -> Case:
        return lambda n: ("create", 0, task_fields.placed_fields(with_defaults(body)))

    def update(task: str, body: Callable[[int], dict[str, Any]]) -> Case:
        return lambda n: (task, n, task_fields.patched_fields(body(n)))

    def toggle(n: int) -> tuple[str, int, dict[str, Any]]:
        return "five", n // 2, task_fields.completed_fields(None)

    return {
        "create": create(PLAIN),
        "create, 5 reminders": create({**PLAIN, **FIVE}),
        "update": update("plain", lambda n: {"priority": PRIORITIES[n % 3]}),
        "update, 5 reminders": update("five", lambda n: {"priority": PRIORITIES[n % 3]}),
        "update due, 5 reminders": update(
            "five", lambda n: {"due_date": datetime(2031, 3, 1 + n % 28, 9, tzinfo=UTC)}
        ),
        "complete toggle, 5 reminders": toggle,
    }


def databases(after: str) -> dict[str, str]:
    before = with_database(after, "todo_bench_before")
    create_database(after, "todo_bench_before", fresh=True)
    migrations.apply(before)
    with psycopg.connect(before, autocommit=True) as conn:
        for trigger in KEPT:
            conn.execute(f"ALTER TABLE tasks DISABLE TRIGGER {trigger}")
    return {"after": after, "before": before}


class Account:
    """An account of one database with `count` plain tasks and `count` of five reminders."""

    def __init__(self, dsn: str, count: int) -> None:
        self.session = str(uuid.uuid4())
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO users (email, name, password_hash)"
                " VALUES ('w' || gen_random_uuid() || '@example.org', 'W', 'x') RETURNING id::text"
            ).fetchone()
            assert row is not None
            self.user_id = row[0]
            conn.execute(
                "INSERT INTO login_families (id, user_id, expires_at)"
                " VALUES (%s, %s, now() + interval '1 day')",
                (self.session, self.user_id),
            )
            self.tasks: dict[str, list[str]] = {}
            for kind, body in (("plain", {}), ("five", FIVE)):
                ids = conn.execute(
                    "INSERT INTO tasks (user_id, list_id, title, due_date, reminders)"
                    " SELECT %(u)s, id, 'seeded', %(due)s, %(reminders)s::jsonb FROM lists,"
                    " generate_series(1, %(n)s) WHERE user_id = %(u)s AND is_inbox"
                    " RETURNING id::text",
                    {
                        "u": self.user_id,
                        "n": count,
                        "due": body.get("due_date"),
                        "reminders": Jsonb(body.get("reminders", [])),
                    },
                ).fetchall()
                self.tasks[kind] = [r[0] for r in ids]
            conn.execute("VACUUM ANALYZE tasks")


async def write(
    conn: asyncpg.Connection, queries: Any, account: Account, make: Case, n: int
) -> float:
    """µs of the case's n-th statement."""
    token = {
        "user_id": account.user_id,
        "session_id": account.session,
        "token_hash": None,
        "required_role": "editor",  # the x-required-role of create_task and update_task
    }
    task, index, fields = make(n)
    started = time.perf_counter()
    if task == "create":
        row = await queries.create_task(conn, **token, quota=10**9, alone=True, **fields)
    else:
        ids = account.tasks[task]
        row = await queries.update_task(
            conn, **token, id=ids[index % len(ids)], versions=None, advance=None, **fields
        )
    spent = (time.perf_counter() - started) * 1e6
    assert row["id"] is not None
    return spent


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection as the service's pool opens one (its settings, its codecs), committing
    without waiting for the disk: what is measured is the statement's own work."""
    settings = Settings(jwt_secret=secrets.token_hex())
    conn = await asyncpg.connect(dsn, **connect_options(settings))
    await init_connection(conn)
    await conn.execute("SET synchronous_commit TO off")
    return conn


async def measure(dsns: dict[str, str], rounds: int, count: int) -> None:
    queries, made = load_queries(), cases()
    accounts = {label: Account(dsn, count) for label, dsn in dsns.items()}
    conns = {label: await connect(dsn) for label, dsn in dsns.items()}
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    try:
        for number in range(rounds):
            for name, make in made.items():
                for n in range(count):  # the two side by side, statement by statement
                    order = list(dsns) if (number + n) % 2 == 0 else list(dsns)[::-1]
                    for label in order:
                        spent = await write(conns[label], queries, accounts[label], make, n)
                        runs[name, label].append(spent)
                for label, conn in conns.items():  # what the creates added goes
                    user_id = accounts[label].user_id
                    created = "DELETE FROM tasks WHERE user_id = $1 AND title = $2"
                    await conn.execute(created, user_id, PLAIN["title"])
                    await conn.execute("DELETE FROM trash WHERE user_id = $1", user_id)
    finally:
        for conn in conns.values():
            await conn.close()
    print(f"\n{rounds} rounds of {count} statements a case; median µs per statement")
    print(f"{'case':32} {'before':>8} {'after':>8} {'after/before':>13}")
    for name in made:
        before, after = (statistics.median(runs[name, label]) for label in ("before", "after"))
        print(f"{name:32} {before:8.0f} {after:8.0f} {after / before:13.2f}")


SET_WRITES = {  # each over 2,000 tasks of FIVE, in one transaction rolled back
    "create": "INSERT INTO tasks (user_id, list_id, title, due_date, reminders)"
    " SELECT %(u)s, id, 'set', %(due)s, %(reminders)s FROM lists, generate_series(1, 2000)"
    " WHERE user_id = %(u)s AND is_inbox",
    "due change": "UPDATE tasks SET due_date = due_date + interval '1 day'"
    " WHERE user_id = %(u)s AND title = 'set'",
    "completion": "UPDATE tasks SET is_completed = true, completed_at = now()"
    " WHERE user_id = %(u)s AND title = 'set'",
    "reopening": "UPDATE tasks SET is_completed = false, completed_at = NULL"
    " WHERE user_id = %(u)s AND title = 'set'",
    "delete": "DELETE FROM tasks WHERE user_id = %(u)s AND title = 'set'",
}


def trigger_times(dsn: str, user_id: str, rounds: int) -> None:
    """The time PostgreSQL spends in the reminder triggers per task written, as EXPLAIN
    ANALYZE reports it for set-based writes of 2,000 tasks of five reminders each."""
    spent: dict[str, list[float]] = defaultdict(list)
    params = {"u": user_id, "due": FIVE["due_date"], "reminders": Jsonb(FIVE["reminders"])}
    with psycopg.connect(dsn) as conn:
        for _ in range(rounds):
            for name, statement in SET_WRITES.items():
                row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).fetchone()
                assert row is not None
                triggers = row[0][0].get("Triggers", [])
                ms = sum(t["Time"] for t in triggers if "reminder_times" in t["Trigger Name"])
                spent[name].append(ms / 2000 * 1000)
            conn.rollback()
    print("\nµs per task in the reminder_times triggers (median of set-based writes of 2,000)")
    for name, times in spent.items():
        print(f"{name:32} {statistics.median(times):8.0f}")


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 5
    count = int(argv[1]) if len(argv) > 1 else 300
    after = open_database()
    try:
        dsns = databases(after)
        asyncio.run(measure(dsns, rounds, count))
        trigger_times(after, Account(after, 0).user_id, rounds)
    finally:
        drop_database(after, "todo_bench_before")


if __name__ == "__main__":
    main(sys.argv[1:])
