"""`make bench` divides the service's throughput by the plain reference server's (bench/plain.py):
a reference that answered errors, or a smaller Task than the service's, would be measured as
fast, so each request it claims to answer must succeed with the service's Task shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sanic.server.protocols.http_protocol import HttpProtocol

from bench import plain
from tests.support import Api, User

pytestmark = pytest.mark.slow


@pytest.fixture
def plain_api(database_url: str, sql: psycopg.Connection[Any]) -> Iterator[Api]:
    with Api(plain.create_plain(database_url, 2), protocol=HttpProtocol) as api:
        yield api
    plain.drop_table(sql)


def test_the_plain_server_answers_each_workload_with_the_services_task(
    api: Api,
    plain_api: Api,
    user: User,
    make_task: Callable[..., dict[str, Any]],
    sql: psycopg.Connection[Any],
) -> None:
    older = make_task(user, title="Older", tags=["home"], due_date="2030-01-02T03:04:05Z")
    newer = make_task(user, title="Newer")
    plain.create_table(sql, [user.id])
    tasks = f"/api/{user.id}/tasks"

    for task in (older, newer):
        got = plain_api.get(f"{tasks}/{task['id']}", check=False)
        assert got.status_code == 200
        assert got.json() == api.get(f"{tasks}/{task['id']}", headers=user.headers).json()

    page = plain_api.get(f"{tasks}?limit=1", check=False)
    assert page.status_code == 200
    assert page.json() == {
        "tasks": [api.get(f"{tasks}/{newer['id']}", headers=user.headers).json()],
        "total": 2,
        "limit": 1,
        "offset": 0,
        "next_cursor": None,
    }

    created = plain_api.post(tasks, check=False, json={"title": "Bench", "tags": ["bench"]})
    assert created.status_code == 201
    body = created.json()
    assert body.keys() == newer.keys()
    assert (body["title"], body["tags"], body["priority"]) == ("Bench", ["bench"], "medium")
    assert body["list_id"] == newer["list_id"]  # the inbox


def test_the_signalling_plain_server_creates_the_same_task_and_signals_each(
    database_url: str, user: User, make_task: Callable[..., dict[str, Any]]
) -> None:
    """bench.ab's `plain+signal` (PLAIN_SIGNAL=1): the plain server's create, plus one NOTIFY
    in its transaction, as every write of the service signals (SPEC §7)."""
    inbox_task = make_task(user, title="Here")
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN plain_events")
        plain.create_table(listener, [user.id])
        try:
            with Api(
                plain.create_plain(database_url, 2, signal=True), protocol=HttpProtocol
            ) as app:
                for title in ("One", "Two"):
                    created = app.post(f"/api/{user.id}/tasks", check=False, json={"title": title})
                    assert created.status_code == 201
                    body = created.json()
                    assert body.keys() == inbox_task.keys()
                    assert (body["title"], body["list_id"]) == (title, inbox_task["list_id"])
            signals = [n.payload for n in listener.notifies(timeout=1, stop_after=2)]
            assert signals == [user.id, user.id]
        finally:
            plain.drop_table(listener)
