"""Task CRUD: create, read, replace, patch, complete, delete; ownership, ETags and If-Match,
Idempotency-Key, and text that must come back exactly as it was sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
import pytest

from tests.support import Api, User

Task = dict[str, Any]
MakeTask = Callable[..., Task]


def tasks_url(owner: User, task_id: str | None = None, suffix: str = "") -> str:
    base = f"/api/{owner.id}/tasks"
    return f"{base}/{task_id}{suffix}" if task_id else base


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- create ---------------------------------------------------------------------------------


def test_create_task_with_only_a_title_applies_defaults(api: Api, user: User) -> None:
    response = api.post(tasks_url(user), json={"title": "Buy milk"}, headers=user.headers)
    assert response.status_code == 201
    task = response.json()
    assert task["title"] == "Buy milk"
    assert task["user_id"] == user.id
    assert task["description"] is None
    assert task["priority"] == "medium"
    assert task["due_date"] is None
    assert task["tags"] == []
    assert task["is_completed"] is False
    assert task["completed_at"] is None
    assert task["version"] == 1
    assert task["created_at"] == task["updated_at"]
    assert response.headers["location"] == f"/api/{user.id}/tasks/{task['id']}"
    assert response.headers["etag"] == '"1"'


def test_create_task_trims_title_and_normalises_tags(api: Api, user: User) -> None:
    body = {"title": "  Buy milk \n", "tags": [" Home", "home ", "ERRANDS", "Home", "x"]}
    task = api.post(tasks_url(user), json=body, headers=user.headers).json()
    assert task["title"] == "Buy milk"
    assert task["tags"] == ["home", "errands", "x"]


def test_lengths_are_counted_after_trimming(api: Api, user: User) -> None:
    """SPEC §2: a title of 1 to 200 characters after trimming; the whitespace around it is
    neither counted nor stored (a maxLength counted it). Tags likewise, 1 to 32."""
    body = {"title": " \t" + "t" * 200 + "\u3000\n", "tags": ["  " + "a" * 32 + " "]}
    response = api.post(tasks_url(user), json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "t" * 200
    assert response.json()["tags"] == ["a" * 32]
    too_long = api.post(tasks_url(user), json={"title": "t" * 201}, headers=user.headers)
    assert too_long.status_code == 422
    [error] = too_long.json()["errors"]
    assert error == {
        "loc": ["body", "title"],
        "msg": "must be 1 to 200 characters after trimming",
        "type": "pattern",
    }


def test_a_tag_keeps_its_length_when_lower_cased(api: Api, user: User) -> None:
    """str.lower() makes U+0130 two characters ('i' and a combining dot): 32 of them were
    refused as longer than 32. Tags are lower-cased one character for one: it becomes 'i'."""
    body = {"title": "x", "tags": ["\u0130" * 32, "\u0130STANBUL"]}
    response = api.post(tasks_url(user), json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == ["i" * 32, "istanbul"]


def test_only_one_character_grows_when_lower_cased() -> None:
    """What the one-to-one lower-casing of tags (server/tasks/fields.py) rests on."""
    grows = [hex(c) for c in range(0x110000) if len(chr(c).lower()) != 1]
    assert grows == ["0x130"]


def test_create_completed_task_sets_completed_at(api: Api, user: User) -> None:
    body = {"title": "Done already", "is_completed": True}
    task = api.post(tasks_url(user), json=body, headers=user.headers).json()
    assert task["is_completed"] is True
    assert task["completed_at"] is not None


def test_create_task_keeps_due_date_as_the_same_instant_in_utc(api: Api, user: User) -> None:
    body = {"title": "Call", "due_date": "2025-01-20T19:00:00+02:00"}
    task = api.post(tasks_url(user), json=body, headers=user.headers).json()
    assert task["due_date"] == "2025-01-20T17:00:00Z"


def test_create_task_location_answers_the_task(api: Api, user: User) -> None:
    created = api.post(tasks_url(user), json={"title": "Find me"}, headers=user.headers)
    fetched = api.get(created.headers["location"], headers=user.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created.json()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "title"]),
        ({"title": "   "}, ["body", "title"]),
        ({"title": "x" * 201}, ["body", "title"]),
        ({"title": "ok", "priority": "urgent"}, ["body", "priority"]),
        ({"title": "ok", "tags": ["a"] * 21}, ["body", "tags"]),
        ({"title": "ok", "tags": ["x" * 33]}, ["body", "tags", 0]),
        ({"title": "ok", "due_date": "tomorrow"}, ["body", "due_date"]),
        ({"title": "ok", "user_id": "someone"}, ["body", "user_id"]),
        ({"title": "nul \u0000 inside"}, ["body", "title"]),
        ({"title": " " + "x" * 201 + " "}, ["body", "title"]),
        ({"title": "ok", "tags": [" " + "x" * 33 + " "]}, ["body", "tags", 0]),
        ({"title": "ok", "due_date": "9999-12-31T23:00:00-05:00"}, ["body", "due_date"]),
    ],
)
def test_create_task_with_invalid_body_returns_422(
    api: Api, user: User, body: dict[str, Any], loc: list[Any]
) -> None:
    response = api.post(tasks_url(user), json=body, headers=user.headers)
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["errors"]]


def test_unicode_and_emoji_round_trip_exactly(api: Api, user: User) -> None:
    body = {
        "title": "Käse 🧀 kaufen — 東京 👩‍👩‍👧",
        "description": "Zeile 1\nZeile 2 \t ✓ 🥛 e\u0301",
        "tags": ["ünïcødé", "😀"],
    }
    created = api.post(tasks_url(user), json=body, headers=user.headers).json()
    fetched = api.get(tasks_url(user, created["id"]), headers=user.headers).json()
    for task in (created, fetched):
        assert task["title"] == body["title"]
        assert task["description"] == body["description"]
        assert task["tags"] == body["tags"]


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE tasks; --",
        "Robert'); DELETE FROM users WHERE ('1'='1",
        '" OR 1=1 --',
        "$1 $$ :title %s %(x)s \\x00",
        "100% _done_ \\",
    ],
)
def test_sql_injection_strings_are_stored_verbatim(
    api: Api, user: User, sql: psycopg.Connection[Any], text: str
) -> None:
    body = {"title": text, "description": text, "tags": [text[:32]]}
    task = api.post(tasks_url(user), json=body, headers=user.headers).json()
    assert task["title"] == text.strip()
    assert task["description"] == text
    stored = sql.execute("SELECT title, description FROM tasks WHERE id = %s", (task["id"],))
    assert stored.fetchone() == (text.strip(), text)
    assert sql.execute("SELECT count(*) FROM users").fetchone() == (1,)


# --- read -----------------------------------------------------------------------------------


def test_get_task_answers_the_task_with_its_etag(api: Api, user: User, task: Task) -> None:
    response = api.get(tasks_url(user, task["id"]), headers=user.headers)
    assert response.status_code == 200
    assert response.json() == task
    assert response.headers["etag"] == '"1"'


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', '"7", "1"', "*"])
def test_get_task_with_matching_if_none_match_returns_304(
    api: Api, user: User, task: Task, header: str
) -> None:
    response = api.get(
        tasks_url(user, task["id"]), headers={**user.headers, "If-None-Match": header}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"1"'


def test_get_task_with_stale_if_none_match_returns_200(api: Api, user: User, task: Task) -> None:
    api.patch(tasks_url(user, task["id"]), json={"priority": "high"}, headers=user.headers)
    response = api.get(
        tasks_url(user, task["id"]), headers={**user.headers, "If-None-Match": '"1"'}
    )
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'


def test_get_missing_task_returns_404(api: Api, user: User) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = api.get(tasks_url(user, missing), headers=user.headers)
    assert response.status_code == 404


def test_get_task_with_malformed_id_returns_400(api: Api, user: User) -> None:
    response = api.get(tasks_url(user, "not-a-uuid"), headers=user.headers)
    assert response.status_code == 400


# --- ownership ------------------------------------------------------------------------------

# Every operation on one task: (method, path suffix, body).
ONE_TASK_OPERATIONS = [
    ("GET", "", None),
    ("PUT", "", {"title": "Mine now"}),
    ("PATCH", "", {"title": "Mine now"}),
    ("PATCH", "/complete", None),
    ("DELETE", "", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ONE_TASK_OPERATIONS)
def test_another_users_task_is_404_on_every_operation(
    api: Api,
    user: User,
    other_user: User,
    task: Task,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    sql: psycopg.Connection[Any],
) -> None:
    url = tasks_url(other_user, task["id"], suffix)
    response = api.request(method, url, json=body, headers=other_user.headers)
    assert response.status_code == 404
    stored = sql.execute("SELECT title, version FROM tasks WHERE id = %s", (task["id"],))
    assert stored.fetchone() == ("Buy milk", 1)


@pytest.mark.parametrize(("method", "suffix", "body"), ONE_TASK_OPERATIONS)
def test_another_users_path_is_403_on_every_task_operation(
    api: Api,
    user: User,
    other_user: User,
    task: Task,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    url = tasks_url(user, task["id"], suffix)
    response = api.request(method, url, json=body, headers=other_user.headers)
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["tasks", "stats"])
def test_another_users_collection_is_403(api: Api, user: User, other_user: User, path: str) -> None:
    assert api.get(f"/api/{user.id}/{path}", headers=other_user.headers).status_code == 403
    post = api.post(f"/api/{user.id}/tasks", json={"title": "x"}, headers=other_user.headers)
    assert post.status_code == 403


@pytest.mark.parametrize("spell", [lambda i: i.replace("-", ""), lambda i: f"urn:uuid:{i}"])
def test_your_own_id_misspelled_is_a_bad_path_not_another_account(
    api: Api, user: User, spell: Any
) -> None:
    response = api.get(f"/api/{spell(user.id)}/tasks", headers=user.headers)
    assert response.status_code == 400  # the contract's uuid is hyphenated; it is still yours
    assert response.json()["errors"][0]["loc"] == ["path", "user_id"]


def test_task_routes_without_a_token_return_401(api: Api, user: User, task: Task) -> None:
    assert api.get(tasks_url(user)).status_code == 401
    assert api.get(tasks_url(user, task["id"])).status_code == 401


# --- replace --------------------------------------------------------------------------------


def test_replace_task_resets_omitted_fields_to_defaults(
    api: Api, user: User, make_task: MakeTask
) -> None:
    task = make_task(
        user,
        title="Full",
        description="d",
        priority="high",
        due_date="2030-01-01T00:00:00Z",
        tags=["a"],
        is_completed=True,
    )
    response = api.put(tasks_url(user, task["id"]), json={"title": " Bare "}, headers=user.headers)
    assert response.status_code == 200
    replaced = response.json()
    assert replaced["title"] == "Bare"
    assert replaced["description"] is None
    assert replaced["priority"] == "medium"
    assert replaced["due_date"] is None
    assert replaced["tags"] == []
    assert replaced["is_completed"] is False
    assert replaced["completed_at"] is None
    assert replaced["version"] == 2
    assert replaced["created_at"] == task["created_at"]
    assert instant(replaced["updated_at"]) > instant(task["updated_at"])
    assert response.headers["etag"] == '"2"'


def test_replace_task_with_every_field(api: Api, user: User, task: Task) -> None:
    body = {
        "title": "New",
        "description": "More",
        "priority": "low",
        "due_date": "2031-05-01T12:00:00Z",
        "tags": ["Work"],
        "is_completed": True,
    }
    replaced = api.put(tasks_url(user, task["id"]), json=body, headers=user.headers).json()
    assert {k: replaced[k] for k in body} == {**body, "tags": ["work"]}
    assert replaced["completed_at"] is not None


def test_replace_task_requires_a_title(api: Api, user: User, task: Task) -> None:
    response = api.put(tasks_url(user, task["id"]), json={"priority": "low"}, headers=user.headers)
    assert response.status_code == 422


# --- patch ----------------------------------------------------------------------------------


def test_update_task_changes_only_the_given_fields(
    api: Api, user: User, make_task: MakeTask
) -> None:
    task = make_task(user, title="Keep", description="keep", tags=["keep"], priority="low")
    response = api.patch(
        tasks_url(user, task["id"]), json={"priority": "high"}, headers=user.headers
    )
    assert response.status_code == 200
    patched = response.json()
    assert patched["priority"] == "high"
    assert {k: patched[k] for k in ("title", "description", "tags")} == {
        "title": "Keep",
        "description": "keep",
        "tags": ["keep"],
    }
    assert patched["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert instant(patched["updated_at"]) > instant(task["updated_at"])


def test_update_task_with_null_clears_description_and_due_date(
    api: Api, user: User, make_task: MakeTask
) -> None:
    task = make_task(user, description="text", due_date="2030-01-01T00:00:00Z")
    body = {"description": None, "due_date": None}
    patched = api.patch(tasks_url(user, task["id"]), json=body, headers=user.headers).json()
    assert patched["description"] is None
    assert patched["due_date"] is None


def test_update_task_accepts_merge_patch_content_type(api: Api, user: User, task: Task) -> None:
    response = api.patch(
        tasks_url(user, task["id"]),
        content=b'{"title": "Merged"}',
        headers={**user.headers, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Merged"


def test_update_task_normalises_title_and_tags(api: Api, user: User, task: Task) -> None:
    body = {"title": "  Spaced  ", "tags": ["B", "b", " A "]}
    patched = api.patch(tasks_url(user, task["id"]), json=body, headers=user.headers).json()
    assert patched["title"] == "Spaced"
    assert patched["tags"] == ["b", "a"]


def test_update_task_completion_keeps_completed_at_right(api: Api, user: User, task: Task) -> None:
    url = tasks_url(user, task["id"])
    done = api.patch(url, json={"is_completed": True}, headers=user.headers).json()
    assert done["completed_at"] is not None
    again = api.patch(url, json={"is_completed": True}, headers=user.headers).json()
    assert again["completed_at"] == done["completed_at"]
    reopened = api.patch(url, json={"is_completed": False}, headers=user.headers).json()
    assert reopened["completed_at"] is None


@pytest.mark.parametrize(
    "body", [{}, {"title": None}, {"tags": None}, {"is_completed": None}, {"id": "x"}]
)
def test_update_task_with_invalid_patch_returns_422(
    api: Api, user: User, task: Task, body: dict[str, Any]
) -> None:
    response = api.patch(tasks_url(user, task["id"]), json=body, headers=user.headers)
    assert response.status_code == 422


def test_update_missing_task_returns_404(api: Api, user: User) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = api.patch(tasks_url(user, missing), json={"title": "x"}, headers=user.headers)
    assert response.status_code == 404


# --- complete -------------------------------------------------------------------------------


def test_complete_task_without_body_toggles(api: Api, user: User, task: Task) -> None:
    url = tasks_url(user, task["id"], "/complete")
    done = api.patch(url, headers=user.headers)
    assert done.status_code == 200
    assert done.json()["is_completed"] is True
    assert done.json()["completed_at"] is not None
    assert done.headers["etag"] == '"2"'
    reopened = api.patch(url, headers=user.headers).json()
    assert reopened["is_completed"] is False
    assert reopened["completed_at"] is None
    assert reopened["version"] == 3


def test_complete_task_with_body_sets_the_flag(api: Api, user: User, task: Task) -> None:
    url = tasks_url(user, task["id"], "/complete")
    first = api.patch(url, json={"is_completed": True}, headers=user.headers).json()
    second = api.patch(url, json={"is_completed": True}, headers=user.headers).json()
    assert second["is_completed"] is True
    assert second["completed_at"] == first["completed_at"]
    assert second["version"] == 3
    cleared = api.patch(url, json={"is_completed": False}, headers=user.headers).json()
    assert cleared["is_completed"] is False
    assert cleared["completed_at"] is None


def test_complete_task_with_invalid_body_returns_422(api: Api, user: User, task: Task) -> None:
    url = tasks_url(user, task["id"], "/complete")
    response = api.patch(url, json={"is_completed": "yes"}, headers=user.headers)
    assert response.status_code == 422


# --- delete ---------------------------------------------------------------------------------


def test_delete_task_returns_204_and_the_task_is_gone(api: Api, user: User, task: Task) -> None:
    url = tasks_url(user, task["id"])
    response = api.delete(url, headers=user.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(url, headers=user.headers).status_code == 404
    assert api.delete(url, headers=user.headers).status_code == 404


# --- If-Match -------------------------------------------------------------------------------

WRITES = [
    ("PUT", "", {"title": "Changed"}),
    ("PATCH", "", {"title": "Changed"}),
    ("PATCH", "/complete", None),
    ("DELETE", "", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
@pytest.mark.parametrize("if_match", ['"1"', '"9", "1"', "*", '"0", "1" ,'])
def test_write_with_current_if_match_succeeds(
    api: Api,
    user: User,
    task: Task,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    if_match: str,
) -> None:
    url = tasks_url(user, task["id"], suffix)
    response = api.request(method, url, json=body, headers={**user.headers, "If-Match": if_match})
    assert response.status_code in (200, 204)


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
@pytest.mark.parametrize("if_match", ['"2"', 'W/"1"', '"abc"', '"99999999999999999999"'])
def test_write_with_stale_etag_returns_412_and_changes_nothing(
    api: Api,
    user: User,
    task: Task,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    if_match: str,
) -> None:
    url = tasks_url(user, task["id"], suffix)
    response = api.request(method, url, json=body, headers={**user.headers, "If-Match": if_match})
    assert response.status_code == 412
    assert api.get(tasks_url(user, task["id"]), headers=user.headers).json() == task


def test_update_task_with_stale_etag_returns_412(api: Api, user: User, task: Task) -> None:
    url = tasks_url(user, task["id"])
    first = api.patch(url, json={"title": "One"}, headers={**user.headers, "If-Match": '"1"'})
    assert first.status_code == 200
    second = api.patch(url, json={"title": "Two"}, headers={**user.headers, "If-Match": '"1"'})
    assert second.status_code == 412
    assert api.get(url, headers=user.headers).json()["title"] == "One"


@pytest.mark.parametrize("if_match", ["1", "", "W/1", '"1" "2"', ","])
def test_write_with_malformed_if_match_returns_400(
    api: Api, user: User, task: Task, if_match: str
) -> None:
    url = tasks_url(user, task["id"])
    headers = {**user.headers, "If-Match": if_match}
    response = api.patch(url, json={"title": "x"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["header", "If-Match"]


def test_write_with_if_match_on_missing_task_returns_404(api: Api, user: User) -> None:
    missing = tasks_url(user, "00000000-0000-4000-8000-000000000000")
    headers = {**user.headers, "If-Match": '"1"'}
    assert api.patch(missing, json={"title": "x"}, headers=headers).status_code == 404
    assert api.delete(missing, headers=headers).status_code == 404


def test_writes_without_if_match_last_write_wins(api: Api, user: User, task: Task) -> None:
    url = tasks_url(user, task["id"])
    api.patch(url, json={"title": "First"}, headers=user.headers)
    last = api.patch(url, json={"title": "Second"}, headers=user.headers).json()
    assert last["title"] == "Second"
    assert last["version"] == 3


# --- Idempotency-Key ------------------------------------------------------------------------


def test_create_task_retry_with_idempotency_key_returns_the_first_task(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    headers = {**user.headers, "Idempotency-Key": "retry-1"}
    first = api.post(tasks_url(user), json={"title": "Once"}, headers=headers)
    api.patch(tasks_url(user, first.json()["id"]), json={"title": "Changed"}, headers=user.headers)
    again = api.post(tasks_url(user), json={"title": " Once "}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert sql.execute("SELECT count(*) FROM tasks").fetchone() == (1,)


def test_a_retry_after_its_task_was_deleted_is_409_and_creates_nothing(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    """Not the first 201 again (its Location would be a 404, and a client would put the
    deleted task back in its list), nor a new task: 409, naming the task."""
    headers = {**user.headers, "Idempotency-Key": "then-deleted"}
    first = api.post(tasks_url(user), json={"title": "Once"}, headers=headers)
    task_id = first.json()["id"]
    assert api.delete(tasks_url(user, task_id), headers=user.headers).status_code == 204
    trashed = api.post(tasks_url(user), json={"title": "Once"}, headers=headers)
    assert trashed.status_code == 409
    assert trashed.json()["type"] == "urn:todo-api:problem:created-task-deleted"
    assert task_id in trashed.json()["detail"]
    restore = f"/api/{user.id}/trash/{task_id}/restore"
    assert api.post(restore, headers=user.headers).status_code == 200
    restored = api.post(tasks_url(user), json={"title": "Once"}, headers=headers)
    assert restored.status_code == 201  # the task is back: the first answer again
    assert restored.json() == first.json()
    api.delete(tasks_url(user, task_id), headers=user.headers)
    purge = f"/api/{user.id}/trash/{task_id}"
    assert api.delete(purge, headers=user.headers).status_code == 204
    purged = api.post(tasks_url(user), json={"title": "Once"}, headers=headers)
    assert purged.status_code == 409
    assert sql.execute("SELECT count(*) FROM tasks").fetchone() == (0,)


def test_create_task_reusing_idempotency_key_with_other_body_returns_422(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    headers = {**user.headers, "Idempotency-Key": "key-2"}
    api.post(tasks_url(user), json={"title": "One"}, headers=headers)
    response = api.post(tasks_url(user), json={"title": "Other"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert sql.execute("SELECT count(*) FROM tasks").fetchone() == (1,)


def test_idempotency_keys_are_per_user(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    body = {"title": "Same key"}
    mine = api.post(tasks_url(user), json=body, headers={**user.headers, "Idempotency-Key": "k"})
    theirs = api.post(
        tasks_url(other_user), json=body, headers={**other_user.headers, "Idempotency-Key": "k"}
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["user_id"] == other_user.id


def test_expired_idempotency_key_creates_a_new_task(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    headers = {**user.headers, "Idempotency-Key": "old"}
    first = api.post(tasks_url(user), json={"title": "Old"}, headers=headers).json()
    sql.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    second = api.post(tasks_url(user), json={"title": "New"}, headers=headers)
    assert second.status_code == 201
    assert second.json()["id"] != first["id"]
    assert sql.execute("SELECT count(*) FROM tasks").fetchone() == (2,)


def test_create_task_with_invalid_idempotency_key_returns_400(api: Api, user: User) -> None:
    headers = {**user.headers, "Idempotency-Key": "has space"}
    response = api.post(tasks_url(user), json={"title": "x"}, headers=headers)
    assert response.status_code == 400
