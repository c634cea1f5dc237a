"""The calendar a task's dates live in (server/tasks/dates.py, issue 23): every instant and day
at the edges of years 1 and 9999, in every zone, is taken as itself or refused (422 in a body,
400 in a query), never a 500; time zones are those that Python and PostgreSQL both know."""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Any

import psycopg
import pytest

from server.system.reminders import fire_due
from tests import ROOT
from tests.support import Api, User

NOT_INSTANTS = [
    "0001-01-01T00:00:00Z",  # asyncpg's -infinity
    "9999-12-31T23:59:59.999999Z",  # and infinity
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-12:00",  # after year 9999 in UTC
]


def create(api: Api, owner: User, **fields: Any) -> Any:
    return api.post(f"/api/{owner.id}/tasks", json={"title": "t", **fields}, headers=owner.headers)


def in_zone(api: Api, owner: User, zone: str) -> Any:
    return api.patch("/api/me", json={"timezone": zone}, headers=owner.headers)


def error_at(response: Any, status: int) -> list[Any]:
    assert response.status_code == status, response.text
    loc: list[Any] = response.json()["errors"][0]["loc"]
    return loc


@pytest.mark.parametrize("value", NOT_INSTANTS)
def test_a_due_date_or_reminder_outside_the_instants_is_422_at_its_field(
    api: Api, user: User, value: str
) -> None:
    assert error_at(create(api, user, due_date=value), 422) == ["body", "due_date"]
    response = create(api, user, reminders=[{"before_due": "PT1M"}, {"at": value}])
    assert error_at(response, 422) == ["body", "reminders", 1, "at"]


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00.000001Z", "9999-12-31T23:59:59.999998Z", "0001-01-01T14:00:01+14:00"],
)
def test_the_instants_next_to_the_edges_are_kept_as_they_are(
    api: Api, user: User, value: str
) -> None:
    response = create(api, user, due_date=value, reminders=[{"at": value}])
    assert response.status_code == 201, response.text
    task = api.get(f"/api/{user.id}/tasks/{response.json()['id']}", headers=user.headers).json()
    utc = value.replace("T14:00:01+14:00", "T00:00:01Z")
    assert (task["due_date"], task["reminders"]) == (utc, [{"at": utc}])


@pytest.mark.parametrize(("day", "status"), [("0001-01-01", 422), ("9999-12-31", 422)])
def test_a_due_on_outside_the_days_is_422(api: Api, user: User, day: str, status: int) -> None:
    assert error_at(create(api, user, due_on=day), status) == ["body", "due_on"]
    task = create(api, user, due_on="2025-01-01").json()
    patch = api.patch(
        f"/api/{user.id}/tasks/{task['id']}", json={"due_on": day}, headers=user.headers
    )
    assert error_at(patch, 422) == ["body", "due_on"]


@pytest.mark.parametrize("zone", ["Etc/GMT+12", "Pacific/Kiritimati", "America/New_York"])
def test_the_first_and_last_days_end_in_every_zone_and_page_by_due(
    api: Api, user: User, zone: str
) -> None:
    assert in_zone(api, user, zone).status_code == 200
    ids = {create(api, user, due_on=day).json()["id"] for day in ("0001-01-02", "9999-12-30")}
    seen: set[str] = set()
    params: dict[str, Any] = {"sort": "due_date", "order": "desc", "limit": 1}
    for _ in range(3):
        page = api.get(f"/api/{user.id}/tasks", params=params, headers=user.headers)
        assert page.status_code == 200, page.text
        seen |= {task["id"] for task in page.json()["tasks"]}
        if page.json()["next_cursor"] is None:
            break
        params = {**params, "cursor": page.json()["next_cursor"]}
    assert seen == ids


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"from": "0001-01-01T00:00:00+14:00", "to": "0001-01-05T00:00:00Z"}, "from"),
        ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-05T00:00:00Z"}, "from"),
        ({"from": "9999-12-25T00:00:00Z", "to": "9999-12-31T23:59:59-12:00"}, "to"),
        ({"from": "9999-12-25T00:00:00Z", "to": "9999-12-31T23:59:59.999999Z"}, "to"),
    ],
)
def test_a_reminders_window_outside_the_instants_is_400(
    api: Api, user: User, params: dict[str, str], loc: str
) -> None:
    response = api.get(f"/api/{user.id}/reminders", params=params, headers=user.headers)
    assert error_at(response, 400) == ["query", loc]


@pytest.mark.parametrize("name", ["due_before", "due_after"])
@pytest.mark.parametrize("value", NOT_INSTANTS)
def test_a_due_filter_outside_the_instants_is_400(
    api: Api, user: User, name: str, value: str
) -> None:
    response = api.get(f"/api/{user.id}/tasks", params={name: value}, headers=user.headers)
    assert error_at(response, 400) == ["query", name]


def test_a_reminder_counted_back_before_year_1_is_simply_never_listed(api: Api, user: User) -> None:
    assert in_zone(api, user, "Etc/GMT-14").status_code == 200  # 0001-01-02 ends at 10:00Z
    early = create(api, user, due_on="0001-01-02", reminders=[{"before_due": "P7D"}])
    assert early.status_code == 201, early.text
    at = create(api, user, title="at", reminders=[{"at": "0001-01-01T12:00:00Z"}])
    assert at.status_code == 201, at.text
    window = {"from": "0001-01-01T00:00:00.000001Z", "to": "0001-01-20T00:00:00Z"}
    response = api.get(f"/api/{user.id}/reminders", params=window, headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["reminders"] == [
        {"task_id": at.json()["id"], "title": "at", "fire_at": "0001-01-01T12:00:00Z"}
    ]
    api.run(fire_due(api.app.ctx.db, api.app.ctx.queries))  # no error


def test_a_time_zone_is_one_both_python_and_postgresql_know(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    known = {row[0] for row in sql.execute("SELECT name FROM pg_timezone_names")}
    python_only = sorted(zoneinfo.available_timezones() - known)
    assert "localtime" in python_only
    for name in python_only:
        assert error_at(in_zone(api, user, name), 422) == ["body", "timezone"], name
    for name in sorted(known & zoneinfo.available_timezones())[::25]:
        assert in_zone(api, user, name).status_code == 200, name
        assert create(api, user, due_on="2025-01-01").status_code == 201, name


def test_values_stored_before_the_bounds_are_moved_to_what_they_meant(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    """Migration 0035 on what earlier versions stored: a zone PostgreSQL refuses, and dues
    that asyncpg wrote as -infinity or infinity."""
    sql.execute("UPDATE users SET timezone = 'localtime' WHERE id = %s", (user.id,))
    instant = create(api, user, due_date="2025-01-01T00:00:00Z").json()
    day = create(api, user, due_date="2025-01-01T00:00:00Z").json()
    sql.execute("UPDATE tasks SET due_date = '-infinity' WHERE id = %s", (instant["id"],))
    sql.execute("UPDATE tasks SET due_date = NULL, due_on = 'infinity' WHERE id = %s", (day["id"],))
    migration = Path(ROOT / "migrations" / "0035.bound-dates-and-zones.sql").read_text()
    sql.execute(migration.split("\n", 1)[1])  # without yoyo's depends line
    me = api.get("/api/me", headers=user.headers).json()
    assert me["timezone"] == "UTC"
    assert create(api, user, due_on="2025-01-01").status_code == 201
    read = {
        task["id"]: (task["due_date"], task["due_on"])
        for task in api.get(f"/api/{user.id}/tasks", headers=user.headers).json()["tasks"]
    }
    assert read[instant["id"]] == ("0001-01-01T00:00:00.000001Z", None)
    assert read[day["id"]] == (None, "9999-12-30")
