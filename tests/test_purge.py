"""The service forgets expired and old rows by itself, with one purger per cluster, and
`todo-api purge` does the same on demand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from server.db.pool import open_database
from server.db.queries import load_queries
from server.system.purger import PURGES, purge
from tests.conftest import User
from tests.live import fresh_database
from tests.support import Api

ROOT = Path(__file__).resolve().parent.parent
OLD_ROWS = """
INSERT INTO login_families (id, user_id, expires_at, ended_at) VALUES
    ('00000000-0000-4000-8000-000000000001', %(user)s, now() + interval '1 day', NULL),
    ('00000000-0000-4000-8000-000000000002', %(user)s, now() + interval '1 day', now());
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES
    (%(user)s, '00000000-0000-4000-8000-000000000001', 'live', now() + interval '1 day'),
    (%(user)s, '00000000-0000-4000-8000-000000000001', 'expired', now() - interval '1 second');
INSERT INTO login_failures (email, client, failed_at) VALUES
    ('a@example.org', '192.0.2.1', now()),
    ('a@example.org', '192.0.2.1', now() - interval '16 minutes');
INSERT INTO signup_attempts (client, attempted_at) VALUES
    ('192.0.2.1', now()), ('192.0.2.1', now() - interval '61 minutes');
INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES
    (%(user)s, 'fresh', 'x', now()), (%(user)s, 'stale', 'x', now() - interval '25 hours');
"""
COUNTS = {
    "refresh_tokens": "SELECT count(*) FROM refresh_tokens",
    "login_families": "SELECT count(*) FROM login_families WHERE id::text LIKE '00000000%%'",
    "login_failures": "SELECT count(*) FROM login_failures",
    "signup_attempts": "SELECT count(*) FROM signup_attempts",
    "idempotency_keys": "SELECT count(*) FROM idempotency_keys",
}
AFTER_ONE_PURGE = dict.fromkeys(COUNTS, 1)


def add_old_rows(sql: psycopg.Connection[Any], user: User) -> None:
    for statement in OLD_ROWS.split(";")[:-1]:
        sql.execute(statement, {"user": user.id})


def counts(sql: psycopg.Connection[Any]) -> dict[str, int]:
    return {name: sql.execute(query).fetchone()[0] for name, query in COUNTS.items()}  # type: ignore[index]


@pytest.mark.slow
def test_todo_api_purge_deletes_what_has_expired_and_keeps_the_rest(
    user: User, sql: psycopg.Connection[Any], database_url: str
) -> None:
    add_old_rows(sql, user)
    env = {**os.environ, "DATABASE_URL": database_url, "APP_ENV": "development"}
    done = subprocess.run(  # noqa: S603 - our own entry point
        [str(Path(sys.executable).with_name("todo-api")), "purge"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    printed = {line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("purge_")}
    assert printed == {name for name, _ in PURGES}
    assert counts(sql) == AFTER_ONE_PURGE


def test_one_worker_of_the_cluster_holds_the_purge_lease(api: Api, admin_dsn: str) -> None:
    """Workers race for the lease on a database no running app purges: one wins, and keeps it."""
    dsn = fresh_database(admin_dsn, "lease")

    async def race() -> list[bool]:
        db = await open_database(api.app.ctx.settings, dsn)
        queries = load_queries()
        try:
            return [
                bool(await queries.take_purge_lease(db, holder=holder, lease_seconds=60))
                for holder in ["worker-0", "worker-1", "worker-2", "worker-0"]
            ]
        finally:
            await db.close()

    assert api.run(race()) == [True, False, False, True]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT holder FROM purge_lease WHERE name = 'purger'").fetchone() == (
            "worker-0",
        )


def test_the_running_service_purges_by_itself(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    add_old_rows(sql, user)
    deleted = api.run(purge(api.app.ctx.db, api.app.ctx.queries, api.app.ctx.settings))
    assert deleted["purge_idempotency_keys"] == 1
    assert counts(sql) == AFTER_ONE_PURGE
