"""An account deleted while one of its requests runs: that request answers 401, as it would
have a moment later, never a 404, 409 or 500 about what the deletion took with it.

The request is held on a lock the deletion's own transaction holds (the account's task count,
which every write of a task count takes first, and the task's row), the account is deleted in
that transaction, and the request goes on into an account that is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import Api, User
from tests.test_completion_concurrency import _until_waiting

Task = dict[str, Any]


async def deleted_meanwhile(
    database_url: str, user: User, task_id: str, call: Callable[[], Any]
) -> httpx.Response:
    watch = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    holder = await psycopg.AsyncConnection.connect(database_url)
    async with watch, holder:
        async with holder.transaction():
            await holder.execute(
                "SELECT FROM task_counts WHERE user_id = %s FOR UPDATE", (user.id,)
            )
            await holder.execute("SELECT FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
            pending = asyncio.ensure_future(call())
            await _until_waiting(watch, 1, [pending])
            await holder.execute("DELETE FROM users WHERE id = %s", (user.id,))
        response: httpx.Response = await pending
        return response


@pytest.mark.parametrize(
    ("method", "path", "trashed", "body"),
    [
        ("POST", "/trash/{id}/restore", True, None),
        ("DELETE", "/trash/{id}", True, None),
        ("PATCH", "/{id}", False, {"title": "renamed"}),
        ("PATCH", "/{id}/complete", False, {"is_completed": True}),
        ("DELETE", "/{id}", False, None),
        ("POST", "", False, {"title": "new"}),
    ],
)
def test_a_request_of_an_account_deleted_meanwhile_is_a_401(
    api: Api,
    user: User,
    make_task: Callable[..., Task],
    database_url: str,
    method: str,
    path: str,
    trashed: bool,
    body: dict[str, Any] | None,
) -> None:
    task = make_task(user)
    base = f"/api/{user.id}/tasks"
    if trashed:
        assert api.delete(f"{base}/{task['id']}", headers=user.headers).status_code == 204
    url = base + path.format(id=task["id"])
    if path.startswith("/trash"):
        url = f"/api/{user.id}" + path.format(id=task["id"])

    def call() -> Any:
        return api.arequest(method, url, json=body, headers=user.headers)

    response = api.run(deleted_meanwhile(database_url, user, task["id"], call))
    assert response.status_code == 401, response.text
    assert "WWW-Authenticate" in response.headers
