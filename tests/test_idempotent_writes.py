"""A write with an Idempotency-Key is done once: its retry, sent after the first landed (a lost
response, a double click), answers what the first answered and writes nothing again. Above all
a completion of a recurring task is not made twice (issue 23)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support import Api, User

Task = dict[str, Any]
DAILY = {"due_on": "2025-01-01", "recurrence": {"rule": "FREQ=DAILY"}}


def write(api: Api, user: User, task: Task, how: str, key: str | None, **extra: Any) -> Any:
    base = f"/api/{user.id}/tasks/{task['id']}"
    headers = {**user.headers, **({} if key is None else {"Idempotency-Key": key})}
    if how == "complete":
        return api.patch(f"{base}/complete", json={"is_completed": True, **extra}, headers=headers)
    if how == "toggle":
        return api.patch(f"{base}/complete", headers=headers)
    if how == "patch":
        return api.patch(base, json={"is_completed": True, **extra}, headers=headers)
    body = {"title": task["title"], **DAILY, "is_completed": True, **extra}
    return api.put(base, json=body, headers=headers)


def stored(api: Api, user: User, task: Task) -> Task:
    got = api.get(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    assert got.status_code == 200, got.text
    body: Task = got.json()
    return body


@pytest.mark.parametrize("how", ["complete", "patch", "put"])
def test_a_completion_retried_with_its_key_advances_a_recurring_task_once(
    api: Api, user: User, make_task: Callable[..., Task], how: str
) -> None:
    task = make_task(user, title="Water the plants", **DAILY)
    first = write(api, user, task, how, "water-1")
    assert first.status_code == 200, first.text
    assert first.json()["due_on"] == "2025-01-02"
    retry = write(api, user, task, how, "water-1")
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert stored(api, user, task)["due_on"] == "2025-01-02"
    assert stored(api, user, task)["version"] == first.json()["version"]


def test_without_a_key_a_retry_is_a_second_completion(
    api: Api, user: User, make_task: Callable[..., Task]
) -> None:
    """As the contract says: what tells a retry from a second completion is the key."""
    task = make_task(user, title="Water the plants", **DAILY)
    assert write(api, user, task, "complete", None).json()["due_on"] == "2025-01-02"
    assert write(api, user, task, "complete", None).json()["due_on"] == "2025-01-03"


def test_a_toggle_retried_with_its_key_does_not_toggle_back(
    api: Api, user: User, make_task: Callable[..., Task]
) -> None:
    task = make_task(user, title="Call Ada")
    first = write(api, user, task, "toggle", "toggle-1")
    assert first.json()["is_completed"] is True
    assert write(api, user, task, "toggle", "toggle-1").json() == first.json()
    assert stored(api, user, task)["is_completed"] is True
    assert write(api, user, task, "toggle", "toggle-2").json()["is_completed"] is False


def test_concurrent_completions_with_one_key_advance_once_and_answer_alike(
    api: Api, user: User, make_task: Callable[..., Task]
) -> None:
    for _round in range(5):
        task = make_task(user, title="Water the plants", **DAILY)
        url = f"/api/{user.id}/tasks/{task['id']}/complete"
        headers = {**user.headers, "Idempotency-Key": f"race-{task['id']}"}

        def complete(url: str = url, headers: dict[str, str] = headers) -> Any:
            return api.arequest("PATCH", url, json={"is_completed": True}, headers=headers)

        answers = api.gather(*[complete] * 6)
        assert {a.status_code for a in answers} == {200}
        assert all(a.json() == answers[0].json() for a in answers)
        assert stored(api, user, task)["due_on"] == "2025-01-02"


@pytest.mark.parametrize(
    "other",
    [
        "another body",
        "another task",
        "another operation",
        "a create",
    ],
)
def test_one_key_for_another_request_is_a_422(
    api: Api, user: User, make_task: Callable[..., Task], other: str
) -> None:
    task, second = make_task(user, **DAILY), make_task(user, **DAILY)
    assert write(api, user, task, "complete", "k").status_code == 200
    if other == "another body":
        refused = write(api, user, task, "complete", "k", is_completed=False)
    elif other == "another task":
        refused = write(api, user, second, "complete", "k")
    elif other == "another operation":
        refused = write(api, user, task, "patch", "k")
    else:
        headers = {**user.headers, "Idempotency-Key": "k"}
        refused = api.post(f"/api/{user.id}/tasks", json={"title": "x"}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert stored(api, user, task)["due_on"] == "2025-01-02"
    assert stored(api, user, second)["due_on"] == "2025-01-01"


def test_a_create_key_cannot_complete(api: Api, user: User, make_task: Callable[..., Task]) -> None:
    headers = {**user.headers, "Idempotency-Key": "made"}
    made = api.post(f"/api/{user.id}/tasks", json={"title": "x", **DAILY}, headers=headers)
    assert made.status_code == 201
    refused = write(api, user, made.json(), "complete", "made")
    assert refused.status_code == 422, refused.text
    assert stored(api, user, made.json())["due_on"] == "2025-01-01"


def test_a_retry_after_the_task_was_deleted_is_a_404(
    api: Api, user: User, make_task: Callable[..., Task]
) -> None:
    task = make_task(user, **DAILY)
    assert write(api, user, task, "complete", "gone").status_code == 200
    url = f"/api/{user.id}/tasks/{task['id']}"
    assert api.delete(url, headers=user.headers).status_code == 204
    assert write(api, user, task, "complete", "gone").status_code == 404


def test_a_failed_write_leaves_its_key_free(
    api: Api, user: User, make_task: Callable[..., Task]
) -> None:
    """A 412 wrote nothing, so its key answers nothing: the retry with the right ETag writes."""
    task = make_task(user, **DAILY)
    url = f"/api/{user.id}/tasks/{task['id']}/complete"
    stale = {**user.headers, "Idempotency-Key": "k", "If-Match": '"99"'}
    assert api.patch(url, json={"is_completed": True}, headers=stale).status_code == 412
    fresh = {**user.headers, "Idempotency-Key": "k2", "If-Match": f'"{task["version"]}"'}
    done = api.patch(url, json={"is_completed": True}, headers=fresh)
    assert done.status_code == 200, done.text
    retried = {**user.headers, "Idempotency-Key": "k", "If-Match": '"99"'}
    assert api.patch(url, json={"is_completed": True}, headers=retried).status_code == 412
