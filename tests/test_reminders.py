"""SPEC §8, reminders: their rules, GET /reminders, and the scheduler firing each reminder once on
channel todo_events (whatever the number of service processes, and after a restart)."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.live import LiveServer, fresh_database
from tests.support import Api, User

MakeTask = Callable[..., dict[str, Any]]


def create(api: Api, owner: User, **fields: Any) -> httpx.Response:
    return api.post(f"/api/{owner.id}/tasks", json={"title": "t", **fields}, headers=owner.headers)


def reminders(api: Api, owner: User, start: str, end: str) -> httpx.Response:
    return api.get(
        f"/api/{owner.id}/reminders", params={"from": start, "to": end}, headers=owner.headers
    )


def test_reminders_are_stored_as_given(api: Api, user: User) -> None:
    given = [{"at": "2030-01-01T09:00:00+02:00"}, {"before_due": "PT15M"}, {"before_due": "P7D"}]
    task = create(api, user, due_date="2030-01-02T00:00:00Z", reminders=given).json()
    assert task["reminders"] == [
        {"at": "2030-01-01T07:00:00Z"},
        {"before_due": "PT15M"},
        {"before_due": "P7D"},
    ]
    assert create(api, user).json()["reminders"] == []


@pytest.mark.parametrize(
    ("reminder", "loc"),
    [
        ({"before_due": "PT59S"}, ["body", "reminders", 0, "before_due"]),
        ({"before_due": "P7DT1S"}, ["body", "reminders", 0, "before_due"]),
        ({"before_due": "P2W"}, ["body", "reminders", 0, "before_due"]),
        ({"before_due": "PT"}, ["body", "reminders", 0, "before_due"]),
        ({"before_due": "P1M"}, ["body", "reminders", 0, "before_due"]),  # months: not allowed
    ],
)
def test_a_before_due_outside_one_minute_to_seven_days_is_422(
    api: Api, user: User, reminder: dict[str, str], loc: list[Any]
) -> None:
    response = create(api, user, due_on="2030-01-01", reminders=[reminder])
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:3] == loc[:3]


def test_at_most_five_reminders(api: Api, user: User) -> None:
    five = [{"before_due": f"PT{n}M"} for n in range(1, 6)]
    assert create(api, user, due_on="2030-01-01", reminders=five).status_code == 201
    response = create(api, user, due_on="2030-01-01", reminders=[*five, {"before_due": "PT9M"}])
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", "reminders"]


def test_before_due_needs_a_due(api: Api, user: User) -> None:
    response = create(api, user, reminders=[{"before_due": "PT5M"}])
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "reminders"]
    assert create(api, user, reminders=[{"at": "2030-01-01T00:00:00Z"}]).status_code == 201
    task = create(api, user, due_on="2030-01-01", reminders=[{"before_due": "PT5M"}]).json()
    path = f"/api/{user.id}/tasks/{task['id']}"
    response = api.patch(path, json={"due_on": None}, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "reminders"]


def test_the_window_lists_open_tasks_reminders_by_fire_at(
    api: Api, user: User, other_user: User
) -> None:
    api.patch("/api/me", json={"timezone": "Asia/Tokyo"}, headers=user.headers)
    # all-day 2030-01-10 in Tokyo ends at 2030-01-10T15:00Z; an hour before is 14:00Z
    day = create(api, user, title="day", due_on="2030-01-10", reminders=[{"before_due": "PT1H"}])
    at = create(
        api,
        user,
        title="at",
        reminders=[{"at": "2030-01-10T14:30:00Z"}, {"at": "2030-02-10T00:00:00Z"}],
    )
    done = create(
        api, user, title="done", is_completed=True, reminders=[{"at": "2030-01-10T14:10:00Z"}]
    )
    assert done.status_code == 201
    weekly = create(
        api,
        user,
        title="weekly",
        due_date="2030-01-03T14:20:00Z",
        recurrence={"rule": "FREQ=WEEKLY"},
        reminders=[{"before_due": "PT15M"}],
    ).json()
    create(api, other_user, title="theirs", reminders=[{"at": "2030-01-10T14:20:00Z"}])
    response = reminders(api, user, "2030-01-10T00:00:00Z", "2030-01-11T00:00:00Z")
    assert response.status_code == 200
    assert response.json()["reminders"] == [
        {"task_id": day.json()["id"], "title": "day", "fire_at": "2030-01-10T14:00:00Z"},
        {"task_id": at.json()["id"], "title": "at", "fire_at": "2030-01-10T14:30:00Z"},
    ]
    # the recurring task reminds at its next due, once completed
    path = f"/api/{user.id}/tasks/{weekly['id']}/complete"
    assert api.patch(path, json={"is_completed": True}, headers=user.headers).status_code == 200
    listed = reminders(api, user, "2030-01-10T00:00:00Z", "2030-01-11T00:00:00Z").json()
    assert [r["title"] for r in listed["reminders"]] == ["day", "weekly", "at"]
    assert listed["reminders"][1]["fire_at"] == "2030-01-10T14:05:00Z"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2030-01-01T00:00:00Z", "2030-02-01T00:00:01Z"),  # 31 days and a second
        ("2030-01-02T00:00:00Z", "2030-01-01T00:00:00Z"),  # backwards
        ("2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),  # empty
    ],
)
def test_a_window_over_31_days_or_backwards_is_400(
    api: Api, user: User, start: str, end: str
) -> None:
    response = reminders(api, user, start, end)
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["query", "to"]
    assert reminders(api, user, "2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z").status_code == 200


def test_another_users_reminders_are_403(api: Api, user: User, other_user: User) -> None:
    response = api.get(
        f"/api/{other_user.id}/reminders",
        params={"from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"},
        headers=user.headers,
    )
    assert response.status_code == 403


# --- the scheduler, in real service processes ----------------------------------------------

FAST = {"REMINDER_INTERVAL_SECONDS": "1"}


def signed_up(server: LiveServer) -> tuple[str, dict[str, str]]:
    body = {
        "email": f"r{time.monotonic_ns()}@example.org",
        "password": "correct horse battery",
        "name": "R",
    }
    assert httpx.post(f"{server.url}/api/auth/signup", json=body).status_code == 201
    login = httpx.post(
        f"{server.url}/api/auth/login", json={k: body[k] for k in ("email", "password")}
    )
    pair = login.json()
    return pair["user"]["id"], {"Authorization": f"Bearer {pair['access_token']}"}


def with_reminders(
    server: LiveServer, user_id: str, headers: dict[str, str], ats: list[datetime]
) -> list[str]:
    ids = []
    for n, at in enumerate(ats):
        response = httpx.post(
            f"{server.url}/api/{user_id}/tasks",
            json={"title": f"r{n}", "reminders": [{"at": at.isoformat()}]},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def listen(dsn: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("LISTEN todo_events")
    return conn


def hold_scheduler_lease(conn: psycopg.Connection[Any], until: str) -> None:
    """The reminder scheduler's lease held by no service until `until` ('-infinity': free)."""
    conn.execute(
        "UPDATE purge_lease SET holder = 'test', leased_until = %s::timestamptz"
        " WHERE name = 'reminders'",
        (until,),
    )


def heard(conn: psycopg.Connection[Any], seconds: float, until: int | None = None) -> list[Any]:
    """The reminder payloads published on todo_events within `seconds` (or once `until` came)."""
    found: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (until is None or len(found) < until):
        for note in conn.notifies(timeout=max(0.1, deadline - time.monotonic()), stop_after=1):
            payload = json.loads(note.payload)
            if payload.get("kind") == "reminder":
                found.append(payload)
    return found


@pytest.fixture
def reminder_db(admin_dsn: str) -> str:
    return fresh_database(admin_dsn, "reminders")


@pytest.mark.slow
def test_two_service_processes_fire_each_reminder_once(
    reminder_db: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("reminders")
    env = {**FAST, "JWT_SECRET": secrets.token_urlsafe(48)}  # one token for both
    with (
        LiveServer(reminder_db, logs / "a.log", env=env) as a,
        LiveServer(reminder_db, logs / "b.log", env=env) as b,
        listen(reminder_db) as conn,
    ):
        user_id, headers = signed_up(a)
        soon = datetime.now(UTC) + timedelta(seconds=3)
        ids = with_reminders(
            a, user_id, headers, [soon + timedelta(milliseconds=100 * n) for n in range(10)]
        )
        ids += with_reminders(b, user_id, headers, [soon + timedelta(seconds=1)])
        found = heard(conn, 20, until=len(ids) + 1)  # one more than expected: no duplicate
    counts = Counter(p["reminder"]["task_id"] for p in found)
    assert counts == Counter(ids)
    assert all(p["user_id"] == user_id for p in found)
    for payload in found:
        fire_at = datetime.fromisoformat(payload["reminder"]["fire_at"])
        assert soon - timedelta(seconds=1) < fire_at < soon + timedelta(seconds=2)


@pytest.mark.slow
def test_a_reminder_due_while_stopped_fires_on_start_unless_an_hour_late(
    reminder_db: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("restart")
    server = LiveServer(reminder_db, logs / "service.log", env=FAST)
    with listen(reminder_db) as conn:
        # The lease held here keeps the scheduler from firing `soon` before the service is
        # down, however long its requests and its stop take on a busy machine.
        hold_scheduler_lease(conn, until="infinity")
        with server:
            user_id, headers = signed_up(server)
            soon = datetime.now(UTC) + timedelta(seconds=4)
            late = datetime.now(UTC) - timedelta(minutes=61)
            fired_on_start, too_late = with_reminders(server, user_id, headers, [soon, late])
        hold_scheduler_lease(conn, until="-infinity")  # given up: the next start takes it
        while datetime.now(UTC) < soon + timedelta(seconds=1):
            time.sleep(0.2)
        assert heard(conn, 1) == []  # nothing fires while the service is stopped
        with server:
            found = heard(conn, 30, until=2)
    assert [p["reminder"]["task_id"] for p in found] == [fired_on_start]
    assert too_late not in {p["reminder"]["task_id"] for p in found}
