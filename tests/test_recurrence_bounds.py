"""Recurrence as a bounded domain (issue 23): a rule is read strictly and must occur within its
budget of steps; wherever a rule is stepped (completion, toggle, batch) the walk stops at that
budget, so no stored rule, however old, can hold the event loop; a next due never leaves the
calendar of server/tasks/dates.py."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from server.tasks import stepping
from tests.support import Api, User

BUDGET = max(stepping.STEPS.values()) + 1  # a walk examines at most its budget and one more


def in_zone(api: Api, owner: User, zone: str) -> None:
    assert api.patch("/api/me", json={"timezone": zone}, headers=owner.headers).status_code == 200


def create(api: Api, owner: User, **fields: Any) -> Any:
    return api.post(f"/api/{owner.id}/tasks", json={"title": "t", **fields}, headers=owner.headers)


def made(api: Api, owner: User, **fields: Any) -> dict[str, Any]:
    response = create(api, owner, **fields)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def complete(api: Api, owner: User, task_id: str, **kwargs: Any) -> dict[str, Any]:
    path = f"/api/{owner.id}/tasks/{task_id}/complete"
    response = api.patch(path, headers=owner.headers, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rule_error(response: Any) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["loc"] == ["body", "recurrence", "rule"], error
    return str(error["msg"])


def store_rule(sql: psycopg.Connection[Any], task_id: str, rule: str) -> None:
    """A rule as an earlier version stored it, without today's checks."""
    recurrence = json.dumps({"rule": rule, "basis": "due"})
    sql.execute("UPDATE tasks SET recurrence = %s::jsonb WHERE id = %s", (recurrence, task_id))


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "2000 steps"),
        ("FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30", "520 steps"),
        ("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=31", "600 steps"),
        ("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31", "60 steps"),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=2", "600 steps"),  # always March, from a March due
    ],
)
def test_a_rule_that_never_occurs_is_422_and_costs_a_bounded_walk(
    api: Api, user: User, rule: str, says: str
) -> None:
    before = stepping.examined()
    response = create(api, user, due_on="2025-03-01", recurrence={"rule": rule})
    assert says in rule_error(response)
    assert stepping.examined() - before <= BUDGET


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 1000"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=1_0", "ASCII digits"),
        ("FREQ=DAILY;INTERVAL=1001", "1 to 1000"),
        ("FREQ=DAILY;INTERVAL=99999999999999999999", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=+5", "INTERVAL"),
        ("FREQ=DAILY;COUNT=\u0661\u0660", "ASCII"),  # Arabic-Indic digits
        ("FREQ=DAILY;COUNT=\uff11\uff10", "ASCII"),  # full-width digits
        ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;COUNT=1001", "COUNT"),
        ("FREQ=WEEKLY;BYDAY=\u017fU", "ASCII"),  # long s: upper-cases to SU
        ("FREQ=DA\u0131LY", "ASCII"),  # dotless i: upper-cases to DAILY
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH takes months from 1 to 12"),
        ("FREQ=YEARLY;BYMONTH=0", "BYMONTH"),
        ("FREQ=MONTHLY;BYDAY=+53MO", "from 1 to 5"),
        ("FREQ=MONTHLY;BYDAY=+6MO", "from 1 to 5"),
        ("FREQ=YEARLY;BYMONTH=3;BYDAY=-6FR", "from 1 to 5"),
        ("FREQ=YEARLY;BYDAY=+54MO", "from 1 to 53"),
        ("FREQ=YEARLY;BYDAY=0MO", "from 1 to 53"),
        ("FREQ=DAILY;BYDAY=+1MO", "needs FREQ=MONTHLY or YEARLY"),
        ("FREQ=WEEKLY;BYDAY=MO,,TU", "BYDAY"),
        ("FREQ=WEEKLY;BYDAY=+MO", "BYDAY"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("FREQ=DAILY;INTERVAL=", "INTERVAL needs a value"),
        ("FREQ=DAILY;UNTIL=2025", "UNTIL must be"),
        ("FREQ=DAILY;UNTIL=20250230", "UNTIL must be"),
        ("FREQ=DAILY;UNTIL=20250101T250000Z", "UNTIL must be"),
        ("FREQ=DAILY;UNTIL=00000101", "UNTIL must be"),
        ("FREQ=DAILY;WKST=MO", "not in the supported subset"),
    ],
)
def test_a_rule_outside_the_strict_subset_is_422_saying_why(
    api: Api, user: User, rule: str, says: str
) -> None:
    response = create(api, user, due_on="2025-03-01", recurrence={"rule": rule})
    assert says in rule_error(response)


@pytest.mark.parametrize(
    ("rule", "due_on", "after"),
    [
        ("FREQ=DAILY;INTERVAL=1000", "2025-01-01", "2027-09-28"),
        ("FREQ=DAILY;COUNT=1000", "2025-01-01", "2025-01-02"),
        ("FREQ=YEARLY;BYDAY=+53MO", "2025-01-01", "2029-12-31"),
        ("FREQ=YEARLY;BYDAY=-53SU", "2025-01-01", "2028-01-02"),
        ("FREQ=MONTHLY;BYDAY=-5FR", "2025-01-01", "2025-01-03"),
        ("FREQ=MONTHLY;BYDAY=+5MO", "2025-01-01", "2025-03-31"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "2025-01-01", "2028-02-29"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29", "2096-03-01", None),  # 2104: past 2000 days
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", "2025-01-01", "2044-02-29"),
        ("FREQ=DAILY;UNTIL=20240101T000000Z", "2025-01-01", None),  # ended: fine, it closes
        ("FREQ=DAILY;UNTIL=00010102", "2025-01-01", None),
    ],
)
def test_rules_at_the_bounds_are_taken_and_step_as_documented(
    api: Api, user: User, rule: str, due_on: str, after: str | None
) -> None:
    response = create(api, user, due_on=due_on, recurrence={"rule": rule})
    if after is None and "UNTIL" not in rule:
        rule_error(response)  # the gap is past the budget: refused up front
        return
    assert response.status_code == 201, response.text
    task = complete(api, user, response.json()["id"], json={"is_completed": True})
    if after is None:
        assert task["is_completed"] is True
    else:
        assert (task["due_on"], task["is_completed"]) == (after, False)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;INTERVAL=0",  # spun the loop forever before issue 23
        "FREQ=WEEKLY;INTERVAL=0",
        "FREQ=DAILY;INTERVAL=-1",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",  # seconds of the loop per completion
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYDAY=+53MO",
        "FREQ=DAILY;UNTIL=nonsense",
    ],
)
@pytest.mark.parametrize("how", ["set", "toggle", "batch"])
def test_a_stored_rule_that_cannot_step_closes_the_task_within_its_budget(
    api: Api, user: User, sql: psycopg.Connection[Any], rule: str, how: str
) -> None:
    task = made(api, user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY"})
    store_rule(sql, task["id"], rule)
    before = stepping.examined()
    if how == "batch":
        item = {"op": "complete", "task_id": task["id"], "body": {"is_completed": True}}
        response = api.post(
            f"/api/{user.id}/tasks/batch", json={"operations": [item]}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["status"] == 200
        done = response.json()["results"][0]["task"]
    else:
        done = complete(
            api, user, task["id"], **({} if how == "toggle" else {"json": {"is_completed": True}})
        )
    assert stepping.examined() - before <= BUDGET
    assert (done["is_completed"], done["due_on"]) == (True, "2025-01-01")
    assert done["recurrence"]["rule"] == rule  # kept, for the user to see and mend


def test_a_stored_rule_with_a_number_dateutil_reads_keeps_its_meaning(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    task = made(api, user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY"})
    store_rule(sql, task["id"], "FREQ=DAILY;INTERVAL=1_0")
    assert complete(api, user, task["id"])["due_on"] == "2025-01-11"


def test_a_rule_set_alone_must_occur_after_the_stored_due_in_the_owners_zone(
    api: Api, user: User
) -> None:
    in_zone(api, user, "Pacific/Kiritimati")  # 2025-02-28T12:00Z is 1 March there
    task = made(api, user, due_date="2025-02-28T12:00:00Z")
    path = f"/api/{user.id}/tasks/{task['id']}"
    february = {"recurrence": {"rule": "FREQ=MONTHLY;INTERVAL=12;BYMONTH=2"}}
    assert "600 steps" in rule_error(api.patch(path, json=february, headers=user.headers))
    march = {"recurrence": {"rule": "FREQ=MONTHLY;INTERVAL=12;BYMONTH=3"}}
    assert api.patch(path, json=march, headers=user.headers).status_code == 200
    assert complete(api, user, task["id"])["due_date"] == "2026-02-28T12:00:00Z"


def test_a_batch_creating_a_rule_that_never_occurs_fails_that_item(api: Api, user: User) -> None:
    rule = {"rule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}
    items = [
        {"op": "create", "body": {"title": "ok", "due_on": "2025-01-01"}},
        {"op": "create", "body": {"title": "never", "due_on": "2025-01-01", "recurrence": rule}},
    ]
    response = api.post(
        f"/api/{user.id}/tasks/batch", json={"operations": items}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422]
    assert results[1]["problem"]["errors"][0]["loc"] == [
        "body",
        "operations",
        1,
        "body",
        "recurrence",
        "rule",
    ]


@pytest.mark.parametrize(
    ("zone", "due", "rule", "expected"),
    [
        # the next day is past 9999 in the owner's zone, or its local day before year 1
        ("Pacific/Kiritimati", {"due_date": "9999-12-31T12:00:00Z"}, "FREQ=DAILY", None),
        ("America/New_York", {"due_date": "0001-01-01T01:00:00Z"}, "FREQ=DAILY", None),
        ("UTC", {"due_on": "9999-12-30"}, "FREQ=DAILY", None),
        ("UTC", {"due_on": "9999-12-29"}, "FREQ=DAILY", "9999-12-30"),
        ("Etc/GMT+12", {"due_date": "9999-12-30T11:00:00Z"}, "FREQ=YEARLY", None),
        # an UNTIL past the calendar's end in the owner's zone is no end
        (
            "Pacific/Kiritimati",
            {"due_date": "2025-01-01T09:00:00Z"},
            "FREQ=DAILY;UNTIL=99991231T235959Z",
            "2025-01-02T09:00:00Z",
        ),
        # 02:30 does not exist in New York on 9 March 2025: it moves forward by the gap
        (
            "America/New_York",
            {"due_date": "2025-03-08T07:30:00Z"},
            "FREQ=DAILY",
            "2025-03-09T07:30:00Z",
        ),
        # 01:30 happens twice on 2 November 2025: the first (EDT)
        (
            "America/New_York",
            {"due_date": "2025-11-01T05:30:00Z"},
            "FREQ=DAILY",
            "2025-11-02T05:30:00Z",
        ),
    ],
)
def test_at_the_calendars_edges_and_dst_a_completion_answers_a_clear_value(
    api: Api, user: User, zone: str, due: dict[str, str], rule: str, expected: str | None
) -> None:
    in_zone(api, user, zone)
    task = made(api, user, **due, recurrence={"rule": rule})
    done = complete(api, user, task["id"], json={"is_completed": True})
    key = next(iter(due))
    if expected is None:
        assert (done["is_completed"], done[key]) == (True, due[key])
    else:
        assert (done["is_completed"], done[key]) == (False, expected)
