"""SPEC §8, recurring tasks: the RRULE subset, and completion moving the due to the next
occurrence in the owner's zone (local time kept across DST), exhaustion, basis completion, no
cascade to subtasks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from server.config import Settings
from tests.support import Api, Clock, User

MakeTask = Callable[..., dict[str, Any]]


@pytest.fixture
def clocked(make_api: Callable[..., Api], settings: Settings) -> Iterator[tuple[Api, Clock]]:
    clock = Clock(datetime(2025, 1, 1, tzinfo=UTC))
    with make_api(settings, clock=clock) as api:
        yield api, clock


def in_zone(api: Api, owner: User, zone: str) -> None:
    assert api.patch("/api/me", json={"timezone": zone}, headers=owner.headers).status_code == 200


def create(api: Api, owner: User, **fields: Any) -> Any:
    return api.post(f"/api/{owner.id}/tasks", json={"title": "t", **fields}, headers=owner.headers)


def complete(api: Api, owner: User, task: dict[str, Any], toggle: bool = False) -> dict[str, Any]:
    path = f"/api/{owner.id}/tasks/{task['id']}/complete"
    json = None if toggle else {"is_completed": True}
    response = api.patch(path, json=json, headers=owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def dues_after_completions(
    api: Api, owner: User, times: int, **fields: Any
) -> tuple[list[str | None], dict[str, Any]]:
    response = create(api, owner, **fields)
    assert response.status_code == 201, response.text
    task = response.json()
    key = "due_on" if "due_on" in fields else "due_date"
    dues = [task[key]]
    for n in range(times):
        task = complete(api, owner, task, toggle=n % 2 == 1)  # set and toggle alike
        dues.append(task[key])
    return dues, task


@pytest.mark.parametrize(
    ("zone", "first", "expected"),
    [
        # 09:00 Berlin: CET (UTC+1) until 30 March 2025, CEST (UTC+2) after
        (
            "Europe/Berlin",
            "2025-03-29T08:00:00Z",
            ["2025-03-29T08:00:00Z", "2025-03-30T07:00:00Z", "2025-03-31T07:00:00Z"],
        ),
        # and back on 26 October
        (
            "Europe/Berlin",
            "2025-10-25T07:00:00Z",
            ["2025-10-25T07:00:00Z", "2025-10-26T08:00:00Z", "2025-10-27T08:00:00Z"],
        ),
        # 09:00 New York: EST (UTC-5) until 9 March 2025, EDT (UTC-4) after; back on 2 November
        (
            "America/New_York",
            "2025-03-08T14:00:00Z",
            ["2025-03-08T14:00:00Z", "2025-03-09T13:00:00Z", "2025-03-10T13:00:00Z"],
        ),
        (
            "America/New_York",
            "2025-11-01T13:00:00Z",
            ["2025-11-01T13:00:00Z", "2025-11-02T14:00:00Z", "2025-11-03T14:00:00Z"],
        ),
    ],
)
def test_a_daily_task_keeps_its_local_time_across_dst(
    api: Api, user: User, zone: str, first: str, expected: list[str]
) -> None:
    in_zone(api, user, zone)
    dues, task = dues_after_completions(
        api, user, 2, due_date=first, recurrence={"rule": "FREQ=DAILY"}
    )
    assert dues == expected
    assert task["is_completed"] is False
    assert task["completed_at"] is None
    assert task["last_completed_at"] is not None


def test_monthly_on_the_31st_skips_short_months(api: Api, user: User) -> None:
    dues, _ = dues_after_completions(
        api, user, 3, due_on="2025-01-31", recurrence={"rule": "FREQ=MONTHLY;BYMONTHDAY=31"}
    )
    assert dues == ["2025-01-31", "2025-03-31", "2025-05-31", "2025-07-31"]


def test_weekly_on_two_days(api: Api, user: User) -> None:
    dues, _ = dues_after_completions(
        api, user, 3, due_on="2025-01-06", recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,TH"}
    )
    assert dues == ["2025-01-06", "2025-01-09", "2025-01-13", "2025-01-16"]


def test_count_exhaustion_closes_the_task(api: Api, user: User) -> None:
    dues, task = dues_after_completions(
        api, user, 3, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY;INTERVAL=2;COUNT=3"}
    )
    assert dues == ["2025-01-01", "2025-01-03", "2025-01-05", "2025-01-05"]
    assert task["is_completed"] is True
    assert task["completed_at"] is not None


def test_until_exhaustion_closes_the_task(api: Api, user: User) -> None:
    in_zone(api, user, "America/New_York")
    rule = "FREQ=WEEKLY;UNTIL=20250115T235959Z"
    dues, task = dues_after_completions(
        api, user, 3, due_date="2025-01-01T15:00:00Z", recurrence={"rule": rule}
    )
    assert dues == [
        "2025-01-01T15:00:00Z",
        "2025-01-08T15:00:00Z",
        "2025-01-15T15:00:00Z",
        "2025-01-15T15:00:00Z",
    ]
    assert task["is_completed"] is True


def test_basis_completion_steps_from_the_day_of_completion(
    clocked: tuple[Api, Clock], user: User
) -> None:
    api, clock = clocked
    in_zone(api, user, "Europe/Berlin")
    created = create(
        api,
        user,
        due_date="2025-01-01T08:00:00Z",  # 09:00 in Berlin
        recurrence={"rule": "FREQ=DAILY;INTERVAL=3", "basis": "completion"},
    ).json()
    clock.now = datetime(2025, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 on the 10th in Berlin
    task = complete(api, user, created)
    assert task["due_date"] == "2025-01-13T08:00:00Z"  # three days after the 10th, at 09:00
    clock.now = datetime(2025, 1, 10, 23, 30, tzinfo=UTC)  # 00:30 on the 11th in Berlin
    task = complete(api, user, task)
    assert task["due_date"] == "2025-01-14T08:00:00Z"


def test_an_advancing_completion_does_not_cascade_but_closing_does(api: Api, user: User) -> None:
    parent = create(
        api, user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY;COUNT=2"}
    ).json()
    child = create(api, user, parent_id=parent["id"]).json()
    child_path = f"/api/{user.id}/tasks/{child['id']}"
    parent = complete(api, user, parent)
    assert parent["due_on"] == "2025-01-02"
    assert api.get(child_path, headers=user.headers).json()["is_completed"] is False
    parent = complete(api, user, parent)  # the rule's last occurrence: it closes, as usual
    assert parent["is_completed"] is True
    assert api.get(child_path, headers=user.headers).json()["is_completed"] is True


def test_a_patch_completing_with_if_match_advances_once(api: Api, user: User) -> None:
    task = create(api, user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY"}).json()
    path = f"/api/{user.id}/tasks/{task['id']}"
    stale = {"If-Match": '"999"', **user.headers}
    assert api.patch(path, json={"is_completed": True}, headers=stale).status_code == 412
    fresh = {"If-Match": f'"{task["version"]}"', **user.headers}
    response = api.patch(path, json={"is_completed": True, "title": "again"}, headers=fresh)
    assert response.status_code == 200
    body = response.json()
    assert (body["due_on"], body["title"], body["version"]) == (
        "2025-01-02",
        "again",
        task["version"] + 1,
    )
    assert response.headers["ETag"] == f'"{body["version"]}"'
    # a patch that leaves it open does not advance it
    body = api.patch(path, json={"is_completed": False}, headers=user.headers).json()
    assert body["due_on"] == "2025-01-02"


def test_recurrence_needs_a_due(api: Api, user: User) -> None:
    response = create(api, user, recurrence={"rule": "FREQ=DAILY"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "recurrence"]
    task = create(api, user, due_on="2025-01-01", recurrence={"rule": "FREQ=DAILY"}).json()
    path = f"/api/{user.id}/tasks/{task['id']}"
    response = api.patch(path, json={"due_on": None}, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "recurrence"]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "FREQ=DAILY;BYHOUR=9",
        "FREQ=WEEKLY;BYSETPOS=1",
        "INTERVAL=2",
        "FREQ=DAILY;COUNT=2;UNTIL=20250101T000000Z",
        "FREQ=DAILY;INTERVAL=x",
        "FREQ=WEEKLY;BYDAY=XX",
        "RRULE:FREQ=DAILY",
    ],
)
def test_a_rule_outside_the_subset_is_422_at_its_field(api: Api, user: User, rule: str) -> None:
    response = create(api, user, due_on="2025-01-01", recurrence={"rule": rule})
    assert response.status_code == 422, rule
    assert response.json()["errors"][0]["loc"] == ["body", "recurrence", "rule"]


def test_the_rule_subset_is_accepted(api: Api, user: User) -> None:
    rule = "FREQ=YEARLY;INTERVAL=1;BYMONTH=3;BYMONTHDAY=1;COUNT=4"
    task = create(api, user, due_on="2025-03-01", recurrence={"rule": rule}).json()
    assert task["recurrence"] == {"rule": rule, "basis": "due"}
    assert complete(api, user, task)["due_on"] == "2026-03-01"
