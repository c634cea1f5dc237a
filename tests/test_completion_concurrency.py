"""Completing a recurring task completes one occurrence (issue 23): requests that complete it
while another one does (two tabs, a double click, a batch) advance it once, whichever way they
complete (set, toggle, PATCH, batch); a retry with If-Match is a 412 that changes nothing.

The overlap is made, not hoped for: a transaction holds the task's row while the requests run,
so each has read the task and waits to write its advance when the row is let go."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import Api, User

ROUNDS = 12
Call = Callable[[], Awaitable[httpx.Response]]


def ways(api: Api, owner: User, task_id: str) -> dict[str, Call]:
    """Each way to complete the task, as a request to send."""
    base = f"/api/{owner.id}/tasks"
    item = {"op": "complete", "task_id": task_id, "body": {"is_completed": True}}

    def send(method: str, path: str, **kwargs: Any) -> Call:
        return lambda: api.arequest(method, base + path, headers=owner.headers, **kwargs)

    return {
        "set": send("PATCH", f"/{task_id}/complete", json={"is_completed": True}),
        "toggle": send("PATCH", f"/{task_id}/complete"),
        "patch": send("PATCH", f"/{task_id}", json={"is_completed": True}),
        "batch": send("POST", "/batch", json={"operations": [item]}),
    }


async def overlapping(database_url: str, task_id: str, calls: list[Call]) -> list[httpx.Response]:
    """The answers to `calls`, sent while the task's row is held until each waits for it."""
    watch = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    holder = await psycopg.AsyncConnection.connect(database_url)
    async with watch, holder:
        async with holder.transaction():
            await holder.execute("SELECT FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
            pending = [asyncio.ensure_future(call()) for call in calls]
            await _until_waiting(watch, len(calls), pending)
        return list(await asyncio.gather(*pending))


async def _until_waiting(
    watch: psycopg.AsyncConnection[Any], count: int, pending: Sequence[asyncio.Future[Any]]
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert not any(p.done() for p in pending), "a completion did not wait for the row"
        row = await (
            await watch.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).fetchone()
        assert row is not None
        if row[0] >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} completions never all waited for the row")


def answered_task(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if "results" in body:
        assert body["results"][0]["status"] == 200, body
        task: dict[str, Any] = body["results"][0]["task"]
        return task
    return body


@pytest.mark.parametrize(
    "kinds",
    [
        ("set", "set"),
        ("toggle", "toggle", "toggle"),
        ("set", "toggle", "patch", "batch"),
        ("batch", "batch"),
    ],
)
def test_concurrent_completions_advance_a_recurring_task_once(
    api: Api,
    user: User,
    make_task: Callable[..., dict[str, Any]],
    database_url: str,
    kinds: tuple[str, ...],
) -> None:
    for _ in range(ROUNDS):
        task = make_task(user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY"})
        calls = [ways(api, user, task["id"])[kind] for kind in kinds]
        answers = api.run(overlapping(database_url, task["id"], calls))
        for answer in map(answered_task, answers):
            assert (answer["due_on"], answer["is_completed"]) == ("2025-01-02", False)
        stored = api.get(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers).json()
        assert (stored["due_on"], stored["version"]) == ("2025-01-02", task["version"] + 1)


def test_a_completion_that_also_edits_loses_to_a_concurrent_one_with_412(
    api: Api, user: User, make_task: Callable[..., dict[str, Any]], database_url: str
) -> None:
    for _ in range(ROUNDS // 2):
        task = make_task(user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY"})
        path = f"/api/{user.id}/tasks/{task['id']}"

        def edit(title: str, path: str = path) -> Call:
            body = {"is_completed": True, "title": title}
            return lambda: api.arequest("PATCH", path, json=body, headers=user.headers)

        answers = api.run(overlapping(database_url, task["id"], [edit("one"), edit("two")]))
        assert sorted(a.status_code for a in answers) == [200, 412]
        winner = next(a for a in answers if a.status_code == 200).json()
        stored = api.get(path, headers=user.headers).json()
        assert (stored["due_on"], stored["title"]) == ("2025-01-02", winner["title"])


def test_a_retried_completion_with_if_match_changes_nothing(
    api: Api, user: User, make_task: Callable[..., dict[str, Any]]
) -> None:
    task = make_task(user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY"})
    path = f"/api/{user.id}/tasks/{task['id']}/complete"
    headers = {"If-Match": f'"{task["version"]}"', **user.headers}
    first = api.patch(path, json={"is_completed": True}, headers=headers)
    assert first.json()["due_on"] == "2025-01-02"
    assert api.patch(path, json={"is_completed": True}, headers=headers).status_code == 412
    stored = api.get(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers).json()
    assert (stored["due_on"], stored["version"]) == ("2025-01-02", task["version"] + 1)
