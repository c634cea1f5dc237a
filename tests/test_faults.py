"""A database outage: 503 problems within seconds (never a hang), /ready says so, and the
service recovers by itself when PostgreSQL returns. Uses a server of its own to stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.db import migrations
from tests.support import Api

pytestmark = pytest.mark.slow


def _until_ready(api: Api, attempts: int = 20) -> int:
    status = 0
    for _ in range(attempts):
        status = api.get("/ready").status_code
        if status == 200:
            break
        api.run(asyncio.sleep(0.25))
    return status


def test_outage_gives_503_with_retry_after_and_recovers_without_restart(
    own_server: Any, outage_app: tuple[Api, str, str]
) -> None:
    api, _, token = outage_app
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
    own_server: Any, outage_app: tuple[Api, str, str]
) -> None:
    api, _, _ = outage_app
    dsn = api.app.ctx.settings.database_url
    newest = migrations.rollback(dsn, 1)
    try:
        response = api.get("/ready")
        assert response.status_code == 503
        assert "migration" in response.json()["detail"]
    finally:
        migrations.apply(dsn)
    assert newest
    assert api.get("/ready").status_code == 200
