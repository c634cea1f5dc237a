"""A database outage: 503 problems within seconds (never a hang), /ready says so, and the
service recovers by itself when PostgreSQL returns. Uses a server of its own to stop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from server import migrations
from server.config import Settings
from server.embedded import create_database, with_database
from server.security import issue_access_token
from tests.support import Api

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def outage_api(own_server: Any, settings: Settings, make_api: Any) -> Iterator[tuple[Api, str]]:
    create_database(own_server.get_uri(), "todo")
    dsn = with_database(own_server.get_uri(), "todo")
    migrations.apply(dsn)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO users (email, name, password_hash) VALUES ('f@example.org', 'F', 'x')"
            " RETURNING id::text"
        ).fetchone()
    assert row is not None
    fast = dataclasses.replace(
        settings, database_url=dsn, db_connect_timeout=1.0, db_acquire_timeout=1.0
    )
    with make_api(fast) as api:
        yield api, issue_access_token(fast, row[0])


def _until_ready(api: Api, attempts: int = 20) -> int:
    status = 0
    for _ in range(attempts):
        status = api.get("/ready").status_code
        if status == 200:
            break
        api.run(asyncio.sleep(0.25))
    return status


def test_outage_gives_503_with_retry_after_and_recovers_without_restart(
    own_server: Any, outage_api: tuple[Api, str]
) -> None:
    api, token = outage_api
    me = {"Authorization": f"Bearer {token}"}
    assert api.get("/ready").status_code == 200

    own_server.stop()
    try:
        ready = api.get("/ready", timeout=10)
        assert ready.status_code == 503
        assert int(ready.headers["Retry-After"]) > 0
        operation = api.get("/api/me", headers=me, timeout=10)
        assert operation.status_code == 503
        assert int(operation.headers["Retry-After"]) > 0
        assert "asyncpg" not in operation.text
        assert "Traceback" not in operation.text
        assert api.get("/health").status_code == 200
    finally:
        own_server.ensure_postgres_running()

    assert _until_ready(api) == 200
    assert api.get("/api/me", headers=me).status_code == 200


def test_ready_is_503_while_a_migration_is_missing(
    own_server: Any, outage_api: tuple[Api, str]
) -> None:
    api, _ = outage_api
    dsn = with_database(own_server.get_uri(), "todo")
    newest = migrations.rollback(dsn, 1)
    try:
        response = api.get("/ready")
        assert response.status_code == 503
        assert "migration" in response.json()["detail"]
    finally:
        migrations.apply(dsn)
    assert newest
    assert api.get("/ready").status_code == 200
