"""Idempotency-Key on creating a comment (SPEC §11, §5's keys; contract 1.20.0): a retry
answers the comment the first request made and makes no second one, also when the retries race;
the same key for another request is a 422; a retry after the comment (or its task, or the
caller's membership) is gone says so; a refused request leaves its key free."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.sharing import set_role, unshare
from tests.support import Api, User
from tests.test_comments import Shared, comments_path, listed, make_shared


@pytest.fixture
def shared(api: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]) -> Shared:
    return make_shared(api, make_user, sql)


def keyed(api: Api, who: User, task_id: str, key: str, body: str = "Oat, not soy") -> Any:
    headers = {**who.headers, "Idempotency-Key": key}
    return api.post(comments_path(who, task_id), json={"body": body}, headers=headers)


def bodies(api: Api, who: User, task_id: str) -> list[str]:
    return [c["body"] for c in listed(api, who, task_id).json()["comments"]]


def test_a_retried_comment_answers_the_first_and_makes_no_second(api: Api, shared: Shared) -> None:
    editor, task_id = shared.editor, shared.task["id"]
    first = keyed(api, editor, task_id, "comment-1")
    assert first.status_code == 201, first.text
    again = keyed(api, editor, task_id, "comment-1", "  Oat, not soy \n")  # trimmed alike
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert bodies(api, shared.owner, task_id) == ["Oat, not soy"]
    # another key, the same request: a second comment
    assert keyed(api, editor, task_id, "comment-2").status_code == 201
    assert bodies(api, shared.owner, task_id) == ["Oat, not soy"] * 2


def test_concurrent_retries_with_one_key_make_one_comment(api: Api, shared: Shared) -> None:
    editor, task_id = shared.editor, shared.task["id"]
    url = comments_path(editor, task_id)
    for attempt in range(4):
        headers = {**editor.headers, "Idempotency-Key": f"race-{attempt}"}
        body = {"body": f"race {attempt}"}

        def create(headers: dict[str, str] = headers, body: dict[str, str] = body) -> Any:
            return api.arequest("POST", url, json=body, headers=headers)

        answers: list[httpx.Response] = api.gather(*[create] * 6)
        assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
        assert all(a.json() == answers[0].json() for a in answers)
    assert bodies(api, shared.owner, task_id) == [f"race {n}" for n in range(4)]


@pytest.mark.parametrize("other", ["another body", "another task", "a task's create"])
def test_one_key_for_another_request_is_a_422(api: Api, shared: Shared, other: str) -> None:
    editor, owner, task_id = shared.editor, shared.owner, shared.task["id"]
    assert keyed(api, editor, task_id, "reused").status_code == 201
    if other == "another body":
        refused = keyed(api, editor, task_id, "reused", "Soy after all")
    elif other == "another task":
        made = api.post(
            f"/api/{owner.id}/tasks",
            json={"title": "Bread", "list_id": shared.list_id},
            headers=owner.headers,
        )
        refused = keyed(api, editor, made.json()["id"], "reused")
    else:
        refused = api.post(
            f"/api/{editor.id}/tasks",
            json={"title": "Oat, not soy"},
            headers={**editor.headers, "Idempotency-Key": "reused"},
        )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert bodies(api, owner, task_id) == ["Oat, not soy"]


def test_a_retry_after_the_comment_was_deleted_is_a_409_naming_it(api: Api, shared: Shared) -> None:
    editor, task_id = shared.editor, shared.task["id"]
    made = keyed(api, editor, task_id, "gone").json()
    url = comments_path(editor, task_id, made["id"])
    assert api.delete(url, headers=editor.headers).status_code == 204
    retry = keyed(api, editor, task_id, "gone")
    assert retry.status_code == 409, retry.text
    assert retry.json()["type"] == "urn:todo-api:problem:created-comment-deleted"
    assert made["id"] in retry.json()["detail"]
    assert bodies(api, editor, task_id) == []


def test_a_retry_while_the_task_is_in_the_trash_is_its_404_and_after_a_restore_the_comment(
    api: Api, shared: Shared
) -> None:
    owner, editor, task_id = shared.owner, shared.editor, shared.task["id"]
    first = keyed(api, editor, task_id, "trashed")
    assert api.delete(f"/api/{owner.id}/tasks/{task_id}", headers=owner.headers).status_code == 204
    retry = keyed(api, editor, task_id, "trashed")
    fresh = keyed(api, editor, task_id, "never-used")
    assert retry.status_code == fresh.status_code == 404, retry.text
    restored = api.post(f"/api/{owner.id}/trash/{task_id}/restore", headers=owner.headers)
    assert restored.status_code == 200, restored.text
    again = keyed(api, editor, task_id, "trashed")
    assert again.status_code == 201, again.text
    assert again.json() == first.json()


def test_a_removed_member_replaying_the_key_gets_the_404_of_a_missing_task(
    api: Api, sql: psycopg.Connection[Any], shared: Shared
) -> None:
    editor, task_id = shared.editor, shared.task["id"]
    assert keyed(api, editor, task_id, "left").status_code == 201
    unshare(sql, shared.list_id, editor)
    replay = keyed(api, editor, task_id, "left")
    missing = keyed(api, editor, str(uuid.uuid4()), "other")
    assert replay.status_code == missing.status_code == 404, replay.text
    assert replay.json()["detail"] == missing.json()["detail"]
    assert shared.task["id"] not in replay.text.replace(replay.json()["instance"], "")


def test_a_refused_create_leaves_its_key_free(
    api: Api, sql: psycopg.Connection[Any], shared: Shared
) -> None:
    viewer, stranger, task_id = shared.viewer, shared.stranger, shared.task["id"]
    refused = keyed(api, viewer, task_id, "viewer-key")
    assert refused.status_code == 403, refused.text
    assert keyed(api, stranger, task_id, "stranger-key").status_code == 404
    blank = keyed(api, viewer, task_id, "viewer-key", "   ")
    assert blank.status_code == 422, blank.text
    set_role(sql, shared.list_id, viewer, "editor")
    made = keyed(api, viewer, task_id, "viewer-key")
    assert made.status_code == 201, made.text
    assert bodies(api, viewer, task_id) == ["Oat, not soy"]
