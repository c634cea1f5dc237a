"""The errors a frontend developer meets say what to send instead (contract 1.11.0), with the
exact wording a user sees, on the single operation and inside a batch item alike, by the
compiled plan and by openapi-core alike."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, User
from tests.test_fastpath import REFUSED, compare_request

SHAPES = 'must be one of these shapes: {"at": "2025-01-24T08:00:00Z"} or {"before_due": "PT15M"}'
ONE_DUE = "a task has due_date or due_on, not both: send the other as null"
DATE_ALONE = "must be a date-time such as 2025-01-24T17:00:00Z, not a date alone"
DUE_ON_HINT = f"{DATE_ALONE}; for an all-day due, send the date as due_on"
PREFIX = (
    "must be the RRULE value alone: drop the RRULE: prefix (and any DTSTART: the task's due is"
    " where the rule starts), such as FREQ=WEEKLY;BYDAY=MO"
)
SCHEMA = "The request body does not match the schema."


def _errors(response: Any, status: int = 422) -> tuple[str, list[dict[str, Any]]]:
    assert response.status_code == status, response.text
    return response.json()["detail"], response.json()["errors"]


def _batch_item(api: Api, user: User, item: dict[str, Any]) -> dict[str, Any]:
    response = api.post(
        f"/api/{user.id}/tasks/batch", json={"operations": [item]}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    problem: dict[str, Any] = response.json()["results"][0]["problem"]
    return problem


@pytest.mark.parametrize(
    "reminder",
    [
        {"before": "PT1M"},
        {"at": "2025-01-24T08:00:00Z", "before_due": "PT15M"},
        {},
        "PT15M",
        {"at": "soon"},
        {"before_due": "15 minutes"},
    ],
)
def test_a_reminder_in_neither_shape_names_both(api: Api, user: User, reminder: Any) -> None:
    body = {"title": "x", "due_on": "2025-01-24", "reminders": [{"before_due": "PT1H"}, reminder]}
    detail, errors = _errors(api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers))
    assert detail == SCHEMA
    assert errors == [{"loc": ["body", "reminders", 1], "msg": SHAPES, "type": "oneOf"}]
    item = _batch_item(api, user, {"op": "create", "body": body})
    assert item["errors"] == [
        {"loc": ["body", "operations", 0, "body", "reminders", 1], "msg": SHAPES, "type": "oneOf"}
    ]
    assert compare_request("create_task", body=body) == REFUSED  # openapi-core words it alike


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "", {"title": "x", "due_date": "2025-01-24T10:00:00Z", "due_on": "2025-01-24"}),
        (
            "put",
            "/{id}",
            {"title": "x", "due_date": "2025-01-24T10:00:00Z", "due_on": "2025-01-24"},
        ),
        ("patch", "/{id}", {"due_date": "2025-01-24T10:00:00Z", "due_on": "2025-01-24"}),
    ],
)
def test_both_dues_in_one_body_are_refused_by_the_schema(
    api: Api, user: User, method: str, path: str, body: dict[str, Any]
) -> None:
    made = api.post(f"/api/{user.id}/tasks", json={"title": "t"}, headers=user.headers).json()
    url = f"/api/{user.id}/tasks" + path.format(id=made["id"])
    detail, errors = _errors(api.request(method, url, json=body, headers=user.headers))
    assert detail == SCHEMA
    assert errors == [{"loc": ["body", "due_on"], "msg": ONE_DUE, "type": "not"}]
    operation = {"post": "create_task", "put": "replace_task", "patch": "update_task"}[method]
    assert compare_request(operation, body=body) == REFUSED


def test_one_due_and_the_other_null_is_accepted(api: Api, user: User) -> None:
    body = {"title": "x", "due_date": None, "due_on": "2025-01-24"}
    made = api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers)
    assert made.status_code == 201, made.text
    switched = api.patch(
        f"/api/{user.id}/tasks/{made.json()['id']}",
        json={"due_on": None, "due_date": "2025-01-24T10:00:00Z"},
        headers=user.headers,
    )
    assert switched.status_code == 200, switched.text
    assert (switched.json()["due_on"], switched.json()["due_date"]) == (
        None,
        "2025-01-24T10:00:00Z",
    )


def test_a_patch_of_one_due_onto_a_task_with_the_other_says_to_clear_it(
    api: Api, user: User
) -> None:
    """The schema cannot see the stored due: the service's check answers, in the same words."""
    body = {"title": "x", "due_date": "2025-01-24T10:00:00Z"}
    made = api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers).json()
    url = f"/api/{user.id}/tasks/{made['id']}"
    detail, errors = _errors(api.patch(url, json={"due_on": "2025-01-25"}, headers=user.headers))
    assert detail == f"due_on: {ONE_DUE}."
    assert errors == [{"loc": ["body", "due_on"], "msg": ONE_DUE, "type": "value_error"}]
    item = _batch_item(
        api, user, {"op": "update", "task_id": made["id"], "body": {"due_on": "2025-01-25"}}
    )
    assert item["errors"] == [
        {"loc": ["body", "operations", 0, "body", "due_on"], "msg": ONE_DUE, "type": "value_error"}
    ]


def test_both_dues_in_a_batch_item(api: Api, user: User) -> None:
    body = {"title": "x", "due_date": "2025-01-24T10:00:00Z", "due_on": "2025-01-24"}
    item = _batch_item(api, user, {"op": "create", "body": body})
    assert item["errors"] == [
        {"loc": ["body", "operations", 0, "body", "due_on"], "msg": ONE_DUE, "type": "not"}
    ]


@pytest.mark.parametrize("value", ["2025-01-24", "0001-01-01", "9999-12-31"])
def test_a_date_alone_in_due_date_points_at_due_on(api: Api, user: User, value: str) -> None:
    body = {"title": "x", "due_date": value}
    detail, errors = _errors(api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers))
    assert detail == SCHEMA
    assert errors == [{"loc": ["body", "due_date"], "msg": DUE_ON_HINT, "type": "format"}]
    item = _batch_item(api, user, {"op": "create", "body": body})
    assert item["errors"][0]["loc"] == ["body", "operations", 0, "body", "due_date"]
    assert item["errors"][0]["msg"] == DUE_ON_HINT
    assert compare_request("create_task", body=body) == REFUSED


def test_a_date_alone_elsewhere_says_a_date_time_is_needed(api: Api, user: User) -> None:
    url = f"/api/{user.id}/tasks?due_before=2025-01-24"
    _, errors = _errors(api.get(url, headers=user.headers), 400)
    assert errors == [{"loc": ["query", "due_before"], "msg": DATE_ALONE, "type": "format"}]
    _, errors = _errors(
        api.post(
            f"/api/{user.id}/tasks",
            json={"title": "x", "due_date": "tomorrow"},
            headers=user.headers,
        )
    )
    assert errors == [
        {"loc": ["body", "due_date"], "msg": "must be a valid date-time", "type": "format"}
    ]


@pytest.mark.parametrize(
    "rule",
    [
        "RRULE:FREQ=DAILY",
        "rrule:FREQ=WEEKLY;BYDAY=MO",
        " RRULE:FREQ=DAILY ",
        "DTSTART:20250101T090000Z\nRRULE:FREQ=DAILY",
        "DTSTART;TZID=Europe/Paris:20250101T090000",
    ],
)
def test_an_rrule_prefix_is_refused_saying_to_drop_it(api: Api, user: User, rule: str) -> None:
    body = {"title": "x", "due_on": "2025-01-24", "recurrence": {"rule": rule}}
    detail, errors = _errors(api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers))
    assert errors == [{"loc": ["body", "recurrence", "rule"], "msg": PREFIX, "type": "value_error"}]
    assert detail == f"recurrence.rule {PREFIX}."


def test_a_part_outside_the_subset_names_the_subset(api: Api, user: User) -> None:
    body = {"title": "x", "due_on": "2025-01-24", "recurrence": {"rule": "FREQ=DAILY;WKST=MO"}}
    _, errors = _errors(api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers))
    assert errors[0]["msg"] == (
        "WKST is not in the supported subset (FREQ, INTERVAL, COUNT, BYMONTH, BYMONTHDAY, BYDAY,"
        " UNTIL)"
    )


def test_another_users_list_says_what_to_send_not_the_schema(
    api: Api, user: User, other_user: User
) -> None:
    theirs = api.post(
        f"/api/{other_user.id}/lists", json={"name": "Theirs"}, headers=other_user.headers
    )
    body = {"title": "x", "list_id": theirs.json()["id"]}
    detail, errors = _errors(api.post(f"/api/{user.id}/tasks", json=body, headers=user.headers))
    msg = (
        "is not one of your lists: send the id of a list from GET /api/{user_id}/lists, or"
        " leave list_id out for the inbox"
    )
    assert errors == [{"loc": ["body", "list_id"], "msg": msg, "type": "value_error"}]
    assert detail == f"list_id {msg}."
    item = _batch_item(api, user, {"op": "create", "body": body})
    assert item["detail"] == detail
    assert item["errors"][0]["loc"] == ["body", "operations", 0, "body", "list_id"]


@pytest.mark.parametrize(
    ("suffix", "without"),
    [
        ("tasks", "for the inbox"),
        ("tasks/clear-completed", "to clear every list"),
        ("calendar-feeds", "for every list"),
    ],
)
def test_each_body_naming_anothers_list_says_what_leaving_it_out_does(
    api: Api, user: User, other_user: User, suffix: str, without: str
) -> None:
    theirs = api.get(f"/api/{other_user.id}/lists", headers=other_user.headers).json()["lists"][0]
    body = (
        {"title": "x", "list_id": theirs["id"]} if suffix == "tasks" else {"list_id": theirs["id"]}
    )
    _, errors = _errors(api.post(f"/api/{user.id}/{suffix}", json=body, headers=user.headers))
    assert errors == [
        {
            "loc": ["body", "list_id"],
            "msg": "is not one of your lists: send the id of a list from GET"
            f" /api/{{user_id}}/lists, or leave list_id out {without}",
            "type": "value_error",
        }
    ]


def test_a_batch_item_without_its_task_id_or_body_says_which(api: Api, user: User) -> None:
    assert _batch_item(api, user, {"op": "delete"})["detail"] == (
        "A delete item needs the task_id of the task it acts on."
    )
    assert _batch_item(api, user, {"op": "create"})["detail"] == "A create item needs a body."


STALE = (
    "The resource has changed since you read it (If-Match did not match): the ETag header holds"
    " its current tag; read it again, then retry with that tag in If-Match."
)


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"title": "y"}),
        ("put", "", {"title": "y"}),
        ("delete", "", None),
        ("patch", "/complete", {"is_completed": True}),
        ("patch", "/complete", None),
        ("post", "/move", {"after_id": None}),
    ],
)
def test_a_stale_if_match_on_a_task_answers_its_current_etag(
    api: Api, user: User, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    made = api.post(f"/api/{user.id}/tasks", json={"title": "x"}, headers=user.headers).json()
    url = f"/api/{user.id}/tasks/{made['id']}"
    assert api.patch(url, json={"title": "2"}, headers=user.headers).status_code == 200
    assert api.patch(url, json={"title": "3"}, headers=user.headers).status_code == 200
    stale = {**user.headers, "If-Match": '"1"'}
    kwargs: dict[str, Any] = (
        {"headers": stale} if body is None else {"headers": stale, "json": body}
    )
    response = api.request(method, url + suffix, **kwargs)
    assert response.status_code == 412, response.text
    assert response.headers["ETag"] == '"3"'
    assert response.json()["detail"] == STALE
    retried = api.request(
        method, url + suffix, **{**kwargs, "headers": {**user.headers, "If-Match": '"3"'}}
    )
    assert retried.status_code in (200, 204), retried.text


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("patch", "", {"name": "y"}), ("delete", "", None), ("post", "/move", {"after_id": None})],
)
def test_a_stale_if_match_on_a_list_answers_its_current_etag(
    api: Api, user: User, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    made = api.post(f"/api/{user.id}/lists", json={"name": "x"}, headers=user.headers).json()
    url = f"/api/{user.id}/lists/{made['id']}"
    assert api.patch(url, json={"name": "2"}, headers=user.headers).status_code == 200
    stale = {**user.headers, "If-Match": '"1"'}
    kwargs: dict[str, Any] = (
        {"headers": stale} if body is None else {"headers": stale, "json": body}
    )
    response = api.request(method, url + suffix, **kwargs)
    assert response.status_code == 412, response.text
    assert response.headers["ETag"] == '"2"'


def test_openapi_core_words_them_alike_where_the_plan_leaves_the_body_to_it(
    api: Api, user: User
) -> None:
    """A lone surrogate escaped in the JSON: orjson refuses the body, so openapi-core reads and
    judges it whole (fastpath.py), and its errors are worded as the plan's."""
    raw = (
        b'{"title": "x", "description": "\\ud800", "due_date": "2025-01-24T10:00:00Z",'
        b' "due_on": "2025-01-24", "reminders": [{"before": "PT1M"}]}'
    )
    headers = {**user.headers, "Content-Type": "application/json"}
    response = api.post(f"/api/{user.id}/tasks", content=raw, headers=headers)
    detail, errors = _errors(response)
    assert detail == SCHEMA
    assert sorted(errors, key=str) == sorted(
        [
            {"loc": ["body", "due_on"], "msg": ONE_DUE, "type": "not"},
            {"loc": ["body", "reminders", 0], "msg": SHAPES, "type": "oneOf"},
        ],
        key=str,
    )
    url = f"/api/{user.id}/tasks?due_before=2025-01-24&statuss=x"
    assert api.get(url, headers=user.headers).json()["errors"][0]["loc"] == ["query", "statuss"]
