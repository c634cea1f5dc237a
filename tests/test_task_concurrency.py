"""No lost updates: writers racing with one If-Match, toggles racing each other, and creates
racing with one Idempotency-Key."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg

from tests.support import Api, User, later
from tests.test_restore import live
from tests.test_trash import make_task

Task = dict[str, Any]


def test_concurrent_patches_with_one_if_match_let_exactly_one_succeed(
    api: Api, user: User, task: Task
) -> None:
    url = f"/api/{user.id}/tasks/{task['id']}"
    headers = {**user.headers, "If-Match": '"1"'}

    def patch(n: int) -> Any:
        return lambda: api.arequest("PATCH", url, json={"title": f"writer {n}"}, headers=headers)

    responses = api.gather(*[patch(n) for n in range(20)])
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: 19}
    winner = next(r.json() for r in responses if r.status_code == 200)
    stored = api.get(url, headers=user.headers).json()
    assert stored["version"] == 2
    assert stored["title"] == winner["title"]


def test_concurrent_patches_without_if_match_each_bump_the_version(
    api: Api, user: User, task: Task
) -> None:
    url = f"/api/{user.id}/tasks/{task['id']}"
    call = lambda: api.arequest("PATCH", url, json={"priority": "high"}, headers=user.headers)  # noqa: E731
    responses = api.gather(*[call] * 20)
    assert {r.status_code for r in responses} == {200}
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 22))
    assert api.get(url, headers=user.headers).json()["version"] == 21


def test_concurrent_toggles_are_not_lost(api: Api, user: User, task: Task) -> None:
    url = f"/api/{user.id}/tasks/{task['id']}/complete"
    responses = api.gather(*[lambda: api.arequest("PATCH", url, headers=user.headers)] * 11)
    assert {r.status_code for r in responses} == {200}
    stored = api.get(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers).json()
    assert stored["version"] == 12
    assert stored["is_completed"] is True  # eleven toggles from open
    assert stored["completed_at"] is not None


def test_concurrent_creates_with_one_idempotency_key_create_one_task(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    headers = {**user.headers, "Idempotency-Key": "race-1"}
    body = {"title": "Exactly once", "tags": ["race"]}
    call = lambda: api.arequest("POST", f"/api/{user.id}/tasks", json=body, headers=headers)  # noqa: E731
    responses = api.gather(*[call] * 10)
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.headers["location"] for r in responses}) == 1
    assert sql.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
    assert sql.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (1,)


def test_concurrent_creates_with_one_key_and_different_bodies_create_one_task(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    headers = {**user.headers, "Idempotency-Key": "race-2"}

    def create(n: int) -> Any:
        body = {"title": f"body {n}"}
        return lambda: api.arequest("POST", f"/api/{user.id}/tasks", json=body, headers=headers)

    responses = api.gather(*[create(n) for n in range(10)])
    assert Counter(r.status_code for r in responses) == {201: 1, 422: 9}
    assert sql.execute("SELECT count(*) FROM tasks").fetchone() == (1,)


def test_concurrent_creates_without_a_key_create_every_task(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    call = lambda: api.arequest(  # noqa: E731
        "POST", f"/api/{user.id}/tasks", json={"title": "Many"}, headers=user.headers
    )
    responses = api.gather(*[call] * 10)
    assert {r.status_code for r in responses} == {201}
    assert sql.execute("SELECT count(*) FROM tasks").fetchone() == (10,)


ROUNDS = 12


def test_a_move_under_a_task_being_deleted_answers_as_one_after_the_other(
    api: Api, user: User, other_user: User
) -> None:
    for _round in range(ROUNDS):
        task, parent = make_task(api, user, "t"), make_task(api, user, "t")
        move, gone = api.gather(
            later(api, user, "POST", f"/tasks/{task['id']}/move", json={"parent_id": parent["id"]}),
            later(api, user, "DELETE", f"/tasks/{parent['id']}"),
        )
        assert gone.status_code == 204
        if move.status_code == 200:  # moved first, then deleted with its new parent
            assert live(api, user, task) is None
        else:
            assert move.status_code == 422, move.text
            assert move.json()["errors"][0]["loc"] == ["body", "parent_id"]
            assert live(api, user, task) is not None


def test_a_create_in_a_list_being_deleted_answers_as_one_after_the_other(
    api: Api, user: User, other_user: User
) -> None:
    for round_no in range(ROUNDS):
        work = api.post(f"/api/{user.id}/lists", json={"name": "Work"}, headers=user.headers)
        list_id = work.json()["id"]
        body: dict[str, Any] = {"title": "late", "list_id": list_id}
        if round_no % 2:  # a subtask of a task of that list
            parent = make_task(api, user, "parent", list_id=list_id)
            body = {"title": "late", "parent_id": parent["id"]}
        made, gone = api.gather(
            later(api, user, "POST", "/tasks", json=body),
            later(api, user, "DELETE", f"/lists/{list_id}"),
        )
        assert gone.status_code == 204
        if made.status_code == 201:  # made first, then trashed with the list
            assert live(api, user, made.json()) is None
        else:
            assert made.status_code == 422, made.text
    listed = api.get(f"/api/{user.id}/tasks", headers=user.headers).json()
    assert listed["total"] == 0


def test_batches_writing_two_tasks_in_opposite_orders_both_succeed(
    api: Api, user: User, other_user: User
) -> None:
    """A deadlock between two batches rolls its victim back whole, which runs again: every
    item succeeds, none answers 500."""
    for _round in range(4):
        first, second = make_task(api, user, "t"), make_task(api, user, "t")

        def batch(ids: list[str]) -> Any:
            update = {"op": "update", "body": {"priority": "high"}}
            operations = [{**update, "task_id": task_id} for task_id in ids]
            return later(api, user, "POST", "/tasks/batch", json={"operations": operations})

        responses = api.gather(
            batch([first["id"], second["id"]]), batch([second["id"], first["id"]])
        )
        for response in responses:
            assert response.status_code == 200, response.text
            assert [r["status"] for r in response.json()["results"]] == [200, 200]
        assert live(api, user, first)["version"] == 3  # type: ignore[index]
