"""What a hostile review of sharing (issue 26) found a member could do that SPEC §11 forbids:
each case as the member would try it, with the owner's, an editor's and a viewer's accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.sharing import make_list, share
from tests.support import Api, User


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user(name="Olive")


@pytest.fixture
def editor(make_user: Callable[..., User]) -> User:
    return make_user(name="Edd")


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> User:
    return make_user(name="Vic")


def create(api: Api, who: User, **fields: Any) -> dict[str, Any]:
    made = api.post(f"/api/{who.id}/tasks", json=fields, headers=who.headers)
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def read(api: Api, who: User, task_id: str) -> dict[str, Any]:
    got = api.get(f"/api/{who.id}/tasks/{task_id}", headers=who.headers)
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def test_an_editor_cannot_move_a_task_under_a_parent_in_a_list_they_only_view(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User
) -> None:
    writable, viewed = make_list(api, owner, "Writable"), make_list(api, owner, "Viewed")
    share(sql, owner, writable["id"], editor, "editor")
    share(sql, owner, viewed["id"], editor, "viewer")
    parent = create(api, owner, title="Parent", list_id=viewed["id"])
    task = create(api, editor, title="Mine to move", list_id=writable["id"])
    url = f"/api/{editor.id}/tasks/{task['id']}/move"
    moved = api.post(url, json={"parent_id": parent["id"]}, headers=editor.headers)
    assert moved.status_code == 422, moved.text  # a list they may read, not write
    assert moved.json()["errors"][0]["loc"] == ["body", "parent_id"]
    batch = api.post(
        f"/api/{editor.id}/tasks/batch",
        json={
            "operations": [
                {"op": "move", "task_id": task["id"], "body": {"parent_id": parent["id"]}}
            ]
        },
        headers=editor.headers,
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["results"][0]["status"] == 422, batch.text
    assert read(api, owner, task["id"])["list_id"] == writable["id"]
    subtask = api.post(
        f"/api/{editor.id}/tasks",
        json={"title": "Under it", "parent_id": parent["id"]},
        headers=editor.headers,
    )
    assert subtask.status_code == 403, subtask.text  # (a new subtask: the parent's role, 403)
