"""POST /tasks/batch (SPEC §7), with a second user present: per-item results as the single
operation would answer, per-item if_match, atomic all-or-nothing (409 + 424), each body
validated by its single operation's schema, Idempotency-Key."""

from __future__ import annotations

import uuid
from typing import Any, cast

import orjson
import pytest
from sanic.compat import Header

from server.contract.adapters import HttpRequest, OpenAPIBody, SanicOpenAPIRequest
from server.contract.validation import validate_body, validate_request
from server.errors import ApiError
from tests.support import Api, User
from tests.test_trash import make_task


def batch(api: Api, owner: User, operations: list[dict[str, Any]], **kw: Any) -> Any:
    headers = {**owner.headers, **kw.pop("headers", {})}
    return api.post(
        f"/api/{owner.id}/tasks/batch", json={"operations": operations, **kw}, headers=headers
    )


def titles(api: Api, owner: User) -> list[str]:
    tasks = api.get(f"/api/{owner.id}/tasks", headers=owner.headers).json()["tasks"]
    return sorted(t["title"] for t in tasks)


def test_each_item_answers_as_its_single_operation(api: Api, user: User, other_user: User) -> None:
    a, b, c = (make_task(api, user, t) for t in ("A", "B", "C"))
    theirs = make_task(api, other_user, "Theirs")
    made = api.post(f"/api/{user.id}/lists", json={"name": "Work"}, headers=user.headers).json()
    response = batch(
        api,
        user,
        [
            {"op": "create", "body": {"title": "  New  ", "tags": ["X"]}},
            {"op": "update", "task_id": a["id"], "if_match": '"1"', "body": {"title": "A1"}},
            {"op": "update", "task_id": b["id"], "if_match": '"7"', "body": {"title": "B1"}},
            {"op": "complete", "task_id": c["id"]},
            {"op": "move", "task_id": c["id"], "body": {"list_id": made["id"]}},
            {"op": "delete", "task_id": theirs["id"]},
            {"op": "update", "task_id": a["id"], "body": {"title": ""}},
            {"op": "create", "body": {"nope": 1}},
            {"op": "delete", "task_id": b["id"]},
        ],
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 200, 412, 200, 200, 404, 422, 422, 204]
    assert results[0]["task"]["title"] == "New"
    assert results[0]["task"]["tags"] == ["x"]
    assert results[1]["task"]["version"] == 2
    assert results[2]["problem"]["type"].endswith("precondition-failed")
    assert results[3]["task"]["is_completed"] is True
    assert results[4]["task"]["list_id"] == made["id"]
    assert results[6]["problem"]["errors"][0]["loc"] == ["body", "operations", 6, "body", "title"]
    assert results[7]["problem"]["errors"][0]["loc"] == ["body", "operations", 7, "body", "nope"]
    assert "task" not in results[8]
    assert titles(api, user) == ["A1", "C", "New"]
    assert titles(api, other_user) == ["Theirs"]


def test_an_atomic_batch_with_one_stale_if_match_changes_nothing(
    api: Api, user: User, other_user: User
) -> None:
    a, b = make_task(api, user, "A"), make_task(api, user, "B")
    make_task(api, other_user, "Theirs")
    before = api.get(f"/api/{user.id}/changes", headers=user.headers).json()["next_since"]
    response = batch(
        api,
        user,
        [
            {"op": "create", "body": {"title": "New"}},
            {"op": "update", "task_id": a["id"], "if_match": '"1"', "body": {"title": "A1"}},
            {"op": "delete", "task_id": b["id"], "if_match": '"9"'},
        ],
        atomic=True,
    )
    assert response.status_code == 409, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [424, 424, 412]
    assert titles(api, user) == ["A", "B"]
    changes = api.get(f"/api/{user.id}/changes", params={"since": before}, headers=user.headers)
    assert changes.json()["changes"] == []
    ok = batch(
        api,
        user,
        [
            {"op": "create", "body": {"title": "New"}},
            {"op": "delete", "task_id": b["id"], "if_match": '"1"'},
        ],
        atomic=True,
    )
    assert [r["status"] for r in ok.json()["results"]] == [201, 204]
    assert titles(api, user) == ["A", "New"]


def test_idempotency_key_replays_the_batch(api: Api, user: User, other_user: User) -> None:
    ops = [{"op": "create", "body": {"title": "Once"}}]
    key = {"Idempotency-Key": "batch-1"}
    first = batch(api, user, ops, headers=key)
    again = batch(api, user, ops, headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert titles(api, user) == ["Once"]
    different = batch(api, user, [{"op": "create", "body": {"title": "Other"}}], headers=key)
    assert different.status_code == 422
    assert batch(api, other_user, ops, headers=key).status_code == 200  # keys are per user
    assert titles(api, other_user) == ["Once"]


def test_the_envelope_is_checked_by_the_contract(api: Api, user: User) -> None:
    assert batch(api, user, []).status_code == 422
    many = [{"op": "create", "body": {"title": "x"}}] * 101
    assert batch(api, user, many).status_code == 422
    assert batch(api, user, [{"op": "explode"}]).status_code == 422
    missing = batch(api, user, [{"op": "delete"}])
    assert missing.json()["results"][0]["status"] == 422


def test_a_batch_complete_advances_a_recurring_task_as_the_single_operation_does(
    api: Api, user: User, other_user: User
) -> None:
    weekly = make_task(
        api,
        user,
        "Weekly review",
        due_on="2030-03-04",
        recurrence={"rule": "FREQ=WEEKLY", "basis": "due"},
    )
    response = batch(api, user, [{"op": "complete", "task_id": weekly["id"]}])
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] == 200, result
    task = result["task"]
    assert (task["is_completed"], task["due_on"]) == (False, "2030-03-11")
    assert task["last_completed_at"] is not None
    assert titles(api, other_user) == []


def batch_nested(api: Api, owner: User, depth: int) -> Any:
    """A batch of one create whose body nests `depth` objects deep."""
    item = '{"a":' * depth + "1" + "}" * depth
    return api.post(
        f"/api/{owner.id}/tasks/batch",
        content='{"operations": [{"op": "create", "body": ' + item + "}]}",
        headers={**owner.headers, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("depth", [62, 1000])
def test_an_item_body_nested_past_64_levels_is_malformed_json_not_a_500(
    api: Api, user: User, depth: int
) -> None:
    """The whole request nests at most 64 levels (3 of them the envelope's), on the fast path
    as in openapi-core's reading: a deeper item body is the request's 400, never a 500."""
    response = batch_nested(api, user, depth)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["type"] == "json_invalid"
    assert titles(api, user) == []


def test_an_item_body_within_64_levels_is_the_items_own_422(api: Api, user: User) -> None:
    response = batch_nested(api, user, 61)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == 422


INVALID_CREATES = [
    {"nope": 1},
    {"title": ""},
    {"title": 5},
    {"title": "x", "priority": "urgent"},
    {"title": "x", "due_date": "yesterday"},
    {"title": "x", "tags": "work"},
    {"title": "x", "tags": ["a"] * 500},
]


def _unbatched(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An item's errors located as its single operation's: ["body", "operations", i, "body",
    ...] -> ["body", ...]"""
    assert all(error["loc"][:2] == ["body", "operations"] for error in errors)
    return [{**error, "loc": error["loc"][3:]} for error in errors]


def test_an_items_own_fields_are_located_in_the_request_body(api: Api, user: User) -> None:
    """task_id and if_match are the item's, beside its body (not inside it)."""
    made = make_task(api, user, "A")
    results = batch(
        api,
        user,
        [
            {"op": "delete"},
            {"op": "delete", "task_id": made["id"], "if_match": "3"},
            {"op": "update", "task_id": made["id"]},
        ],
    ).json()["results"]
    assert [r["status"] for r in results] == [422, 400, 422]
    assert [r["problem"]["errors"][0]["loc"] for r in results] == [
        ["body", "operations", 0, "task_id"],
        ["body", "operations", 1, "if_match"],
        ["body", "operations", 2, "body"],
    ]


@pytest.mark.parametrize("body", INVALID_CREATES)
def test_an_items_invalid_body_is_answered_as_its_single_operation_answers_it(
    api: Api, user: User, body: dict[str, Any]
) -> None:
    single = api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers)
    item = batch(api, user, [{"op": "create", "body": body}]).json()["results"][0]
    assert single.status_code == item["status"] == 422, single.text
    assert _unbatched(item["problem"]["errors"]) == single.json()["errors"]
    assert titles(api, user) == []


class _Sent:
    """A request as loading.HttpRequest reads it: a JSON body to POST /api/{id}/tasks."""

    scheme, host, match_info = "http", "127.0.0.1", {"user_id": str(uuid.uuid4())}

    def __init__(self, body: Any) -> None:
        self.body = orjson.dumps(body)
        self.headers = Header({"content-type": "application/json", "authorization": "Bearer t"})
        self.path = f"/api/{self.match_info['user_id']}/tasks"
        self.cookies: dict[str, str] = {}

    def get_query_args(self, **_options: Any) -> list[tuple[str, str]]:
        return []


def sent(body: Any) -> HttpRequest:
    return cast(HttpRequest, _Sent(body))


@pytest.mark.parametrize("body", INVALID_CREATES)
def test_openapi_core_words_an_items_body_as_it_words_the_whole_request(
    api: Api, body: dict[str, Any]
) -> None:
    """Where the compiled plan is unsure of an item's body, openapi-core reads it alone, and
    answers as it answers the single operation's whole request."""
    contract = api.app.ctx.contract
    operation = contract.by_id["create_task"]
    with pytest.raises(ApiError) as whole:
        validate_request(contract, SanicOpenAPIRequest(sent(body), operation))
    with pytest.raises(ApiError) as alone:
        validate_body(contract, OpenAPIBody(sent(body), operation, body))
    assert (alone.value.status, alone.value.errors) == (whole.value.status, whole.value.errors)


def test_a_stale_item_names_the_current_tag_it_has_no_header_for(api: Api, user: User) -> None:
    task = make_task(api, user, "A")
    api.patch(f"/api/{user.id}/tasks/{task['id']}", json={"title": "A1"}, headers=user.headers)
    stale = {"op": "update", "task_id": task["id"], "if_match": '"1"', "body": {"title": "A2"}}
    results = batch(api, user, [stale]).json()["results"]
    assert results[0]["status"] == 412
    assert results[0]["problem"]["detail"] == (
        'The task has changed since you read it (if_match did not match): its current tag is "2";'
        " read it again, then retry the item with that tag in if_match."
    )
