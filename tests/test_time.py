"""SPEC §8, dates: the account's time zone, all-day dues (due_on) and the end-of-day rule for
filters, sorting and overdue, judged with the clock under the test's control."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from server.config import Settings
from tests.support import Api, Clock, User

MakeTask = Callable[..., dict[str, Any]]


def set_zone(api: Api, owner: User, zone: str) -> Any:
    return api.patch("/api/me", json={"timezone": zone}, headers=owner.headers)


def test_timezone_defaults_to_utc_and_patch_me_sets_it(api: Api, user: User) -> None:
    assert api.get("/api/me", headers=user.headers).json()["timezone"] == "UTC"
    response = set_zone(api, user, "Europe/Berlin")
    assert response.status_code == 200
    assert response.json()["timezone"] == "Europe/Berlin"
    assert response.json()["name"] == user.name  # a patch of the zone keeps the name
    assert api.get("/api/me", headers=user.headers).json()["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "europe/berlin", "../etc/passwd", "UTC+1"])
def test_an_unknown_zone_is_422_at_its_field(api: Api, user: User, zone: str) -> None:
    response = set_zone(api, user, zone)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "timezone"]]
    assert api.get("/api/me", headers=user.headers).json()["timezone"] == "UTC"


def test_patch_me_needs_a_field(api: Api, user: User) -> None:
    assert api.patch("/api/me", json={}, headers=user.headers).status_code == 422


def test_due_on_is_a_date_and_excludes_due_date(api: Api, user: User, make_task: MakeTask) -> None:
    task = make_task(user, due_on="2030-01-10")
    assert (task["due_on"], task["due_date"]) == ("2030-01-10", None)
    both = {"title": "x", "due_on": "2030-01-10", "due_date": "2030-01-10T09:00:00Z"}
    response = api.post(f"/api/{user.id}/tasks", json=both, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "due_on"]
    # a patch that would leave both is refused too, and changes nothing
    path = f"/api/{user.id}/tasks/{task['id']}"
    response = api.patch(path, json={"due_date": "2030-01-10T09:00:00Z"}, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "due_on"]
    assert api.get(path, headers=user.headers).json()["version"] == task["version"]
    # switching is clearing one and setting the other
    switch = {"due_on": None, "due_date": "2030-01-10T09:00:00Z"}
    moved = api.patch(path, json=switch, headers=user.headers).json()
    assert (moved["due_on"], moved["due_date"]) == (None, "2030-01-10T09:00:00Z")


def ids(api: Api, owner: User, query: str) -> list[str]:
    response = api.get(f"/api/{owner.id}/tasks?limit=100&{query}", headers=owner.headers)
    assert response.status_code == 200
    return [task["title"] for task in response.json()["tasks"]]


def test_all_day_counts_as_due_at_the_end_of_its_day_in_the_owners_zone(
    api: Api, user: User, other_user: User, make_task: MakeTask
) -> None:
    set_zone(api, user, "Asia/Tokyo")  # UTC+9: 2030-01-10 ends at 2030-01-10T15:00Z
    make_task(user, title="all-day", due_on="2030-01-10")
    make_task(user, title="before", due_date="2030-01-10T14:59:00Z")
    make_task(user, title="after", due_date="2030-01-10T15:01:00Z")
    make_task(user, title="undated")
    make_task(other_user, title="theirs", due_on="2030-01-10")
    assert ids(api, user, "sort=due_date&order=asc") == ["before", "all-day", "after", "undated"]
    assert ids(api, user, "sort=due_date&order=desc") == ["after", "all-day", "before", "undated"]
    assert set(ids(api, user, "due_before=2030-01-10T15:00:01Z")) == {"all-day", "before"}
    assert set(ids(api, user, "due_before=2030-01-10T15:00:00Z")) == {"before"}
    assert set(ids(api, user, "due_after=2030-01-10T14:59:59Z")) == {"all-day", "after"}
    # a new zone moves the end of the day: Los Angeles (UTC-8) ends it at 2030-01-11T08:00Z
    set_zone(api, user, "America/Los_Angeles")
    assert ids(api, user, "sort=due_date&order=asc") == ["before", "after", "all-day", "undated"]
    assert set(ids(api, user, "due_after=2030-01-11T07:59:59Z")) == {"all-day"}


def test_due_order_pages_by_cursor_across_all_day_tasks(
    api: Api, user: User, make_task: MakeTask
) -> None:
    set_zone(api, user, "Pacific/Kiritimati")
    for day in range(1, 8):
        make_task(user, title=f"on {day}", due_on=f"2030-03-0{day}")
        make_task(user, title=f"at {day}", due_date=f"2030-03-0{day}T12:00:00Z")
    seen, cursor = [], ""
    while True:
        page = api.get(
            f"/api/{user.id}/tasks?sort=due_date&order=asc&limit=3{cursor}", headers=user.headers
        ).json()
        seen += [task["title"] for task in page["tasks"]]
        if not page.get("next_cursor"):
            break
        cursor = f"&cursor={page['next_cursor']}"
    # Kiritimati is UTC+14: day d ends at d 10:00Z, before that day's 12:00Z instant
    assert seen == [title for day in range(1, 8) for title in (f"on {day}", f"at {day}")]


@pytest.fixture
def clocked(make_api: Callable[..., Api], settings: Settings) -> Iterator[tuple[Api, Clock]]:
    clock = Clock(datetime(2030, 1, 1, tzinfo=UTC))
    with make_api(settings, clock=clock) as api:
        yield api, clock


@pytest.mark.parametrize(
    ("zone", "day_ends"),
    [
        ("Pacific/Kiritimati", datetime(2030, 1, 10, 10, 0, tzinfo=UTC)),  # UTC+14
        ("Pacific/Pago_Pago", datetime(2030, 1, 11, 11, 0, tzinfo=UTC)),  # UTC-11
    ],
)
def test_all_day_overdue_on_both_sides_of_midnight(
    clocked: tuple[Api, Clock], user: User, zone: str, day_ends: datetime
) -> None:
    api, clock = clocked
    set_zone(api, user, zone)
    created = api.post(
        f"/api/{user.id}/tasks",
        json={"title": "all day", "due_on": "2030-01-10"},
        headers=user.headers,
    )
    assert created.status_code == 201

    def overdue_at(now: datetime) -> int:
        clock.now = now
        response = api.get(f"/api/{user.id}/stats", headers=user.headers)
        assert response.status_code == 200
        return int(response.json()["overdue"])

    one_minute = datetime(2030, 1, 1, 0, 1) - datetime(2030, 1, 1)
    assert overdue_at(day_ends - one_minute) == 0  # 23:59 local on the 10th: still due today
    assert overdue_at(day_ends + one_minute) == 1  # 00:01 local on the 11th: overdue
    # midnight UTC is on the other side of the local midnight in each zone
    utc_midnight = datetime(2030, 1, 11, tzinfo=UTC)
    assert overdue_at(utc_midnight) == (1 if zone == "Pacific/Kiritimati" else 0)
