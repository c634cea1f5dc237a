"""Each common task operation reaches PostgreSQL in one round trip on one connection acquire,
the account check of the access token included (issue 13).

An app of the test's own counts every acquire of its pool, and sees every statement sent on
its connections through asyncpg's query logger. Each
operation is sent once before it is counted, so the count is that of a warm connection (the
first use of a statement text on a connection costs asyncpg one more round trip to prepare it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest

from server.config import Settings
from server.db.pool import Database
from tests.conftest import User
from tests.sharing import share
from tests.support import Api
from tests.tokens import make_token


@dataclass
class Counted:
    acquires: int = 0
    statements: list[str] = field(default_factory=list)


class CountingPool:
    """An app's own pool, counting its acquires (an Executor's `take`s too), and the statements
    sent on the connections they hand out (asyncpg's query logger, added to each connection as
    it is acquired)."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counted = Counted()
        acquire = db.acquire

        def counting_acquire() -> _Logged:
            self.counted.acquires += 1
            return _Logged(acquire(), self._log)

        monkeypatch.setattr(db, "acquire", counting_acquire)
        take = db.take  # how an Executor acquires, around one statement

        async def counting_take() -> asyncpg.Connection:
            self.counted.acquires += 1
            conn = await take()
            conn.add_query_logger(self._log)
            return conn

        monkeypatch.setattr(db, "take", counting_take)

    def _log(self, record: Any) -> None:
        self.counted.statements.append(" ".join(record.query.split())[:80])


class _Logged:
    """An acquire (awaited, or `async with`) whose connection logs its statements."""

    def __init__(self, acquire: Any, log: Callable[[Any], None]) -> None:
        self.acquire, self.log = acquire, log

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        conn = yield from self.acquire.__await__()
        conn.add_query_logger(self.log)  # a set: adding it again is a no-op
        return conn

    async def __aenter__(self) -> asyncpg.Connection:
        conn = await self.acquire.__aenter__()
        conn.add_query_logger(self.log)
        return conn

    async def __aexit__(self, *exc: object) -> None:
        await self.acquire.__aexit__(*exc)


@pytest.fixture
def counted_api(
    settings: Settings, make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, CountingPool]]:
    """An app of its own, whose pool is counted. Its purger, reminder scheduler and outbox
    senders are stopped first: when a lease is free (a live server of an earlier test released
    it), the new app takes it and its rounds' statements would land in the count."""
    with make_api(settings) as api:
        api.run(_stop_background(api))
        yield api, CountingPool(api.app.ctx.db, monkeypatch)


async def _stop_background(api: Api) -> None:
    for task in (api.app.ctx.purger, api.app.ctx.scheduler):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for sender in api.app.ctx.senders:  # the outbox's: they look at it every 0.2 s here
        await sender.stop(1)


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
        "reminders": (
            lambda: api.get(
                f"/api/{user.id}/reminders",
                params={"from": "2030-01-01T00:00:00Z", "to": "2030-01-08T00:00:00Z"},
                headers=h,
            ),
            200,
        ),
    }


def test_each_common_operation_is_one_round_trip_on_one_acquire(
    counted_api: tuple[Api, CountingPool], user: User, make_task: Callable[..., Any]
) -> None:
    api, counting = counted_api
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


def test_a_member_reads_and_writes_a_shared_lists_task_in_one_round_trip(
    counted_api: tuple[Api, CountingPool],
    user: User,
    other_user: User,
    sql: psycopg.Connection[Any],
) -> None:
    """A shared list's editor costs what its owner does: the statement that checks the session
    checks the role too (issue 26)."""
    api, counting = counted_api
    owner, member = user, other_user
    made = api.post(f"/api/{owner.id}/lists", json={"name": "Shared"}, headers=owner.headers)
    list_id = made.json()["id"]
    share(sql, owner, list_id, member, "editor")
    one = api.post(
        f"/api/{owner.id}/tasks",
        json={"title": "shared", "list_id": list_id},
        headers=owner.headers,
    ).json()
    base, h = f"/api/{member.id}/tasks", member.headers
    url = f"{base}/{one['id']}"
    sends: dict[str, tuple[Send, int]] = {
        "get": (lambda: api.get(url, headers=h), 200),
        "PATCH": (lambda: api.patch(url, json={"priority": "low"}, headers=h), 200),
        "list (list_id)": (lambda: api.get(base, params={"list_id": list_id}, headers=h), 200),
        "create": (lambda: api.post(base, json={"title": "n", "list_id": list_id}, headers=h), 201),
    }
    costs = {name: count(api, counting, send, status) for name, (send, status) in sends.items()}
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
    counted_api: tuple[Api, CountingPool], user: User, task: dict[str, Any]
) -> None:
    api, counting = counted_api
    one = f"/api/{user.id}/tasks/{task['id']}"
    stale = {**user.headers, "If-Match": '"999"'}
    costs = count(api, counting, lambda: api.patch(one, json={"title": "x"}, headers=stale), 412)
    assert (costs.acquires, len(costs.statements)) <= (2, 2)
    assert len(costs.statements) == 2


def test_a_deleted_account_is_refused_by_the_operation_statement_itself(
    counted_api: tuple[Api, CountingPool],
    user: User,
    other_user: User,
    make_task: Callable[..., Any],
    sql: psycopg.Connection[Any],
) -> None:
    """401 with WWW-Authenticate, told apart from a missing task in the same round trip."""
    api, counting = counted_api

    def requests(owner: User, task_id: str) -> list[Send]:
        base, one, h = f"/api/{owner.id}/tasks", f"/api/{owner.id}/tasks/{task_id}", owner.headers
        return [
            lambda: api.get(one, headers=h),
            lambda: api.get(base, headers=h),
            lambda: api.patch(one, json={"title": "x"}, headers=h),
            lambda: api.post(base, json={"title": "x"}, headers=h),
            lambda: api.get(f"/api/{owner.id}/stats", headers=h),
            lambda: api.get(
                f"/api/{owner.id}/reminders",
                params={"from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"},
                headers=h,
            ),
            lambda: api.delete(one, headers=h),
        ]

    for send in requests(other_user, make_task(other_user)["id"]):  # the same statements, warm
        assert send().status_code < 300
    doomed = requests(user, make_task(user)["id"])
    sql.execute("DELETE FROM users WHERE id = %s", (user.id,))
    for send in doomed:
        counting.counted = Counted()
        response = send()
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        api.run(_settle())
        assert (counting.counted.acquires, len(counting.counted.statements)) == (1, 1)


def test_a_personal_access_token_costs_what_a_session_does(
    counted_api: tuple[Api, CountingPool], user: User, make_task: Callable[..., Any]
) -> None:
    """A token's check rides each operation's one statement, as a session's does (issue 27):
    no lookup of the token before it, and its last use is written later, off the request."""
    api, counting = counted_api
    task = make_task(user, title="counted", tags=["x"])
    make_task(user, title="second")
    token = make_token(api, user, "tasks:read", "tasks:write")
    scripted = dataclasses.replace(user, access_token=token["token"])
    costs = {
        name: count(api, counting, send, status)
        for name, (send, status) in operations(api, scripted, task["id"]).items()
    }
    summary = {name: (c.acquires, len(c.statements)) for name, c in costs.items()}
    assert summary == dict.fromkeys(costs, (1, 1)), {
        name: c.statements for name, c in costs.items()
    }
