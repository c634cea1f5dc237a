"""Each common task operation reaches PostgreSQL in one round trip on one connection acquire,
the account check of the access token included (issue 13).

The pool of the running app is wrapped in a counter: every acquire is counted, and every
statement sent on an acquired connection is seen through asyncpg's query logger. Each
operation is sent once before it is counted, so the count is that of a warm connection (the
first use of a statement text on a connection costs asyncpg one more round trip to prepare it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest

from tests.conftest import User
from tests.support import Api


@dataclass
class Counted:
    acquires: int = 0
    statements: list[str] = field(default_factory=list)


class CountingPool:
    """The app's real asyncpg pool, counting acquires and the statements sent in between."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.counted = Counted()

    async def acquire(self) -> asyncpg.Connection:
        conn = await self.pool.acquire()
        self.counted.acquires += 1
        conn.add_query_logger(self._log)
        return conn

    async def release(self, conn: asyncpg.Connection) -> None:
        conn.remove_query_logger(self._log)
        await self.pool.release(conn)

    def _log(self, record: Any) -> None:
        self.counted.statements.append(" ".join(record.query.split())[:80])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


@pytest.fixture
def counting(api: Api) -> Iterator[CountingPool]:
    db = api.app.ctx.db
    real = db.pool
    db.pool = CountingPool(real)
    try:
        yield db.pool
    finally:
        db.pool = real


Send = Callable[[], httpx.Response]


def count(api: Api, counting: CountingPool, send: Send, status: int) -> Counted:
    """What one request costs: sent once to warm the connection's statement cache, then again."""
    assert send().status_code == status
    counting.counted = Counted()
    response = send()
    assert response.status_code == status, response.text
    api.run(_settle())  # query loggers are called soon after their statement, not at once
    measured, counting.counted = counting.counted, Counted()
    return measured


async def _settle() -> None:
    await asyncio.sleep(0)


def operations(api: Api, user: User, task_id: str) -> dict[str, tuple[Send, int]]:
    base, h = f"/api/{user.id}/tasks", user.headers
    first = api.get(base, params={"limit": 1}, headers=h).json()
    cursor = first["next_cursor"]
    assert cursor is not None
    one = f"{base}/{task_id}"
    put = {"title": "replaced", "priority": "high", "tags": ["x"], "is_completed": False}

    return {
        "get": (lambda: api.get(one, headers=h), 200),
        "list (offset)": (lambda: api.get(base, params={"limit": 20}, headers=h), 200),
        "list (cursor)": (
            lambda: api.get(base, params={"limit": 1, "cursor": cursor}, headers=h),
            200,
        ),
        "list (filters, empty page)": (
            lambda: api.get(
                base, params={"status": "pending", "priority": "high", "tag": "x"}, headers=h
            ),
            200,
        ),
        "create": (lambda: api.post(base, json={"title": "new", "tags": ["a"]}, headers=h), 201),
        "PUT": (lambda: api.put(one, json=put, headers=h), 200),
        "PATCH": (lambda: api.patch(one, json={"priority": "low"}, headers=h), 200),
        "complete": (lambda: api.patch(f"{one}/complete", headers=h), 200),
        "stats": (lambda: api.get(f"/api/{user.id}/stats", headers=h), 200),
    }


def test_each_common_operation_is_one_round_trip_on_one_acquire(
    api: Api, user: User, counting: CountingPool, make_task: Callable[..., Any]
) -> None:
    task = make_task(user, title="counted", tags=["x"])
    make_task(user, title="second")
    costs = {
        name: count(api, counting, send, status)
        for name, (send, status) in operations(api, user, task["id"]).items()
    }
    costs["delete"] = _count_delete(api, user, counting)
    summary = {name: (c.acquires, len(c.statements)) for name, c in costs.items()}
    assert summary == dict.fromkeys(costs, (1, 1)), {
        name: c.statements for name, c in costs.items()
    }


def _count_delete(api: Api, user: User, counting: CountingPool) -> Counted:
    """Each DELETE needs a task of its own, created before the count starts."""
    base, h = f"/api/{user.id}/tasks", user.headers
    results = []
    for _ in range(2):
        victim = api.post(base, json={"title": "victim"}, headers=h).json()["id"]
        counting.counted = Counted()
        assert api.delete(f"{base}/{victim}", headers=h).status_code == 204
        api.run(_settle())
        results.append(counting.counted)
        counting.counted = Counted()
    return results[-1]


def test_a_failed_precondition_takes_a_second_round_trip_to_tell_412_from_404(
    api: Api, user: User, counting: CountingPool, task: dict[str, Any]
) -> None:
    one = f"/api/{user.id}/tasks/{task['id']}"
    stale = {**user.headers, "If-Match": '"999"'}
    costs = count(api, counting, lambda: api.patch(one, json={"title": "x"}, headers=stale), 412)
    assert (costs.acquires, len(costs.statements)) <= (2, 2)
    assert len(costs.statements) == 2


def test_a_deleted_account_is_refused_by_the_operation_statement_itself(
    api: Api, user: User, counting: CountingPool, task: dict[str, Any], sql: psycopg.Connection[Any]
) -> None:
    """401 with WWW-Authenticate, told apart from a missing task in the same round trip."""
    one = f"/api/{user.id}/tasks/{task['id']}"
    assert api.get(one, headers=user.headers).status_code == 200
    sql.execute("DELETE FROM users WHERE id = %s", (user.id,))
    for send in (
        lambda: api.get(one, headers=user.headers),
        lambda: api.get(f"/api/{user.id}/tasks", headers=user.headers),
        lambda: api.patch(one, json={"title": "x"}, headers=user.headers),
        lambda: api.delete(one, headers=user.headers),
        lambda: api.post(f"/api/{user.id}/tasks", json={"title": "x"}, headers=user.headers),
        lambda: api.get(f"/api/{user.id}/stats", headers=user.headers),
    ):
        counting.counted = Counted()
        response = send()
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        api.run(_settle())
        assert (counting.counted.acquires, len(counting.counted.statements)) == (1, 1)
