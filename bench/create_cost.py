"""What each part of a create costs PostgreSQL: the service's own create_task statement, run in
blocks of one-statement transactions (as the service runs it) on one connection, with one part
switched off at a time, the variants alternating block by block, for an account holding 100
tasks and one holding 50,000.

    .venv/bin/python -m bench.create_cost [per block] [rounds] [sync]

Measured is the CPU time of the connection's PostgreSQL backend (from /proc, so the database
must run on this machine), which a busy machine moves far less than the time a create takes.
Parts: the revision (a create that is its own transaction takes it in its statement, migration
0059; one in a transaction waits for the commit stamp: migration 0020's BEFORE trigger marks the
row, a deferred trigger stamps it at commit; switched off, neither runs), the counts (0032 and
after: the statement trigger of task_counts), the reminder rows (0036: a WHEN clause for a task
without reminders), due_at (0030), placement's sequence (next_position(), against a default that
needs no sequence), a list's newest-first index (0062: dropped, then made again), and every
trigger at once (foreign keys included: what the bare INSERT costs). Without `sync`,
synchronous_commit is off, so that the commit's WAL flush, which dominates a one-statement
transaction on a busy disk, does not hide the statement's own work. It runs on a database of
its own on the embedded server (or DATABASE_URL's server), made fresh; switching triggers off
needs the tables' owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psycopg

from bench.create_growth import server_uri
from bench.database import seed_tasks
from server.db import migrations
from server.db.embedded import create_database, with_database
from server.db.pool import init_connection
from server.db.queries import load_queries
from server.tasks.fields import placed_fields

SIZES = (100, 50_000)
POSITION_DEFAULT = "next_position()"
UNSEQUENCED = "'~' || gen_random_uuid()"  # unique among siblings, no sequence


@dataclass(frozen=True)
class Part:
    name: str
    off: tuple[str, ...]  # ALTER TABLE statements that switch it off
    on: tuple[str, ...]  # ... and back on
    alone: bool = True  # create_task's :alone (false: the commit stamp gives the revision)
    transaction: bool = False  # run inside BEGIN and COMMIT of its own

    @property
    def toggle(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.off, self.on


def triggers(table: str, *names: str) -> Part:
    return Part(
        "",
        tuple(f"ALTER TABLE {table} DISABLE TRIGGER {n}" for n in names),
        tuple(f"ALTER TABLE {table} ENABLE TRIGGER {n}" for n in names),
    )


def parts() -> list[Part]:
    stamp = triggers("tasks", "tasks_mark_changed", "tasks_stamp_revisions")
    counts = triggers("tasks", "tasks_count")
    reminders = triggers("tasks", "tasks_reminder_times_insert")
    due = triggers("tasks", "tasks_due_at")
    everything = triggers("tasks", "ALL")
    position = (f"ALTER TABLE tasks ALTER COLUMN position SET DEFAULT {UNSEQUENCED}",)
    back = (f"ALTER TABLE tasks ALTER COLUMN position SET DEFAULT {POSITION_DEFAULT}",)
    return [
        Part("all on", (), ()),
        Part(
            "in a transaction: revision from the commit stamp",
            (),
            (),
            alone=False,
            transaction=True,
        ),
        Part("without the revision (neither stamp)", stamp.off, stamp.on, alone=False),
        Part("without the counts", counts.off, counts.on),
        Part("without the reminder rows' trigger", reminders.off, reminders.on),
        Part("without due_at's trigger", due.off, due.on),
        Part("without placement's sequence", position, back),
        Part(
            "without a list's newest-first index (0062)",
            ("DROP INDEX tasks_user_list_created_idx",),
            (
                "CREATE INDEX tasks_user_list_created_idx"
                " ON tasks (user_id, list_id, created_at, id)",
            ),
        ),
        Part(
            "without any trigger (foreign keys too; no revision)",
            everything.off,
            everything.on,
            alone=False,
        ),
    ]


def fresh_database() -> str:
    dsn = with_database(server_uri(), "todo_create_cost")
    create_database(server_uri(), "todo_create_cost", fresh=True)
    migrations.apply(dsn)
    return dsn


def seed(dsn: str, tasks: int) -> tuple[str, str]:
    """An account holding `tasks` tasks, and its live login family."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO users (email, name, password_hash) VALUES (%s, 'cost', 'x') RETURNING id",
            (f"create-cost-{tasks}@example.org",),
        ).fetchone()
        assert row is not None
        user_id = str(row[0])
        conn.execute(
            "INSERT INTO login_families (id, user_id, expires_at)"
            " VALUES (gen_random_uuid(), %s, now() + interval '1 day')",
            (user_id,),
        )
        seed_tasks(conn, user_id, tasks)
        conn.execute("VACUUM ANALYZE")
        family = conn.execute(
            "SELECT id FROM login_families WHERE user_id = %s", (user_id,)
        ).fetchone()
        assert family is not None
        return user_id, str(family[0])


def backend_cpu(pid: int) -> float:
    """CPU seconds the PostgreSQL backend of our connection has spent so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def block(
    conn: asyncpg.Connection,
    user: tuple[str, str],
    n: int,
    alone: bool,
    transaction: bool = False,
) -> float:
    """The backend's CPU µs per create, n creates one after the other: alone, each takes its
    revision in its statement; else the commit stamp gives it, in a transaction of its own
    when `transaction` (as a create with an Idempotency-Key, a batch's)."""
    queries = load_queries()
    fields = placed_fields(
        {"title": "a task of the cost bench", "priority": "high", "tags": [], "is_completed": False}
    )
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    started = backend_cpu(pid)
    for _ in range(n):
        async with conn.transaction() if transaction else contextlib.nullcontext():
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
    return (backend_cpu(pid) - started) / n * 1e6


async def measure(dsn: str, n: int, rounds: int, sync: bool) -> None:
    users = {size: seed(dsn, size) for size in SIZES}
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    if not sync:
        await conn.execute("SET synchronous_commit = off")
    results: dict[tuple[str, int], list[float]] = defaultdict(list)
    variants = parts()
    try:
        for r in range(rounds):
            for part in variants if r % 2 == 0 else variants[::-1]:
                for statement in part.off:
                    await conn.execute(statement)
                try:
                    for size, user in users.items():
                        results[(part.name, size)].append(
                            await block(conn, user, n, part.alone, part.transaction)
                        )
                finally:
                    for statement in part.on:
                        await conn.execute(statement)
    finally:
        await conn.close()
    base = {size: statistics.mean(results[("all on", size)]) for size in SIZES}
    print(
        f"PostgreSQL's CPU µs per create (its backend's), mean of {rounds} blocks of {n}"
        f" (synchronous_commit {'on' if sync else 'off'})"
    )
    print("| variant | " + " | ".join(f"{s:,} tasks" for s in SIZES) + " | share of all on |")
    print("|---|" + "---:|" * (len(SIZES) + 1))
    for part in variants:
        means = [statistics.mean(results[(part.name, s)]) for s in SIZES]
        share = 1 - means[0] / base[SIZES[0]]
        cells = " | ".join(f"{m:,.0f}" for m in means)
        print(f"| {part.name} | {cells} | {'' if part.name == 'all on' else f'{share:.0%}'} |")


def main() -> None:
    a = sys.argv[1:]
    n, rounds = int(a[0]) if a else 300, int(a[1]) if len(a) > 1 else 4
    asyncio.run(measure(fresh_database(), n, rounds, len(a) > 2 and a[2] == "sync"))


if __name__ == "__main__":
    main()
