"""A database outage: 503 problems within seconds (never a hang), /ready says so, and the
service recovers by itself when PostgreSQL returns. Uses a server of its own to stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.db import migrations
from server.errors import BUSY, ServiceUnavailable
from tests.conftest import User
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
        assert operation.json()["detail"] == ServiceUnavailable.default_detail
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


def test_a_database_busy_past_the_wait_for_a_connection_says_so(api: Api, user: User) -> None:
    """Every pool connection held (long statements, lock waits) past the acquire timeout: a
    request is a 503 saying the database is busy, not that it is unavailable (the hostile
    review of stop 43 read "unavailable" while the database answered)."""
    db = api.app.ctx.db

    async def with_every_connection_held() -> Any:
        held: list[Any] = []
        while len(held) < db.size:
            try:
                held.append(await db.acquire())
            except TimeoutError:
                continue
        try:
            return await api.arequest("GET", "/api/me", headers=user.headers)
        finally:
            for conn in held:
                await db.release(conn)

    busy = api.run(with_every_connection_held())
    assert busy.status_code == 503, busy.text
    assert int(busy.headers["Retry-After"]) > 0
    assert busy.json()["detail"] == BUSY
    assert api.get("/api/me", headers=user.headers).status_code == 200
