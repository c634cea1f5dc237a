"""Recurrence and dates over their whole domain (issue 23): rules generated across the RFC 5545
subset and past it (FREQ, INTERVAL incl. 0, negative and huge, BYDAY with ordinals to +-54,
BYMONTHDAY incl. 0, BYMONTH out of range, COUNT, UNTIL from year 1 to 9999, numbers in other
digits), dues as instants and days from year 1 to 9999 in every zone both Python and
PostgreSQL know, basis due or completion, and reminders at the edges. Through the real API:
create, complete (set, toggle, PATCH, batch), /reminders and a scheduler round each succeed or
refuse (4xx), never 5xx, and each request does bounded work, measured by what the code counts
(the rrule periods of server/tasks/stepping.py), never by the wall clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server.system.reminders import fire_due
from server.tasks import completion, stepping
from tests.support import Api, User

pytestmark = pytest.mark.slow

EXAMPLES = 150
# A request steps a rule at most once to check it and once per attempt of its completion, and a
# walk examines at most its budget and one period more.
MOST_PERIODS = (completion.ATTEMPTS + 1) * (max(stepping.STEPS.values()) + 1)
RequestCheck = Callable[[httpx.Response, int], None]

WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
ODD_NUMBERS = ["1_0", "\u0661\u0660", "\uff12", "+2", "-1", "0", "00", "99999999999999999999", ""]
EDGE_INSTANTS = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00.000001Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T01:00:00Z",
    "0001-01-02T00:00:00-12:00",
    "9999-12-31T12:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-12:00",
    "9999-12-30T23:00:00+14:00",
]
EDGE_DAYS = [date(1, 1, 1), date(1, 1, 2), date(9999, 12, 30), date(9999, 12, 31)]


@pytest.fixture(scope="module")
def zones(database_url: str) -> list[str]:
    import zoneinfo

    with psycopg.connect(database_url) as conn:
        known = {row[0] for row in conn.execute("SELECT name FROM pg_timezone_names")}
    return sorted(known & zoneinfo.available_timezones())


@pytest.fixture
def bounded_request() -> RequestCheck:
    """How one request's work is judged: check(response, periods), the rrule periods it made
    the server examine. An event-loop guard that measures how long each request held the loop
    is read here too (by the response's X-Request-ID), beside the periods."""

    def check(response: httpx.Response, periods: int) -> None:
        request = response.request
        assert response.status_code < 500, (request.method, request.url, response.text)
        assert periods <= MOST_PERIODS, (request.method, request.url, periods)

    return check


def number(usual: int, low: int, high: int) -> st.SearchStrategy[str]:
    """Mostly an ordinary number (1 to `usual`), else anything from low to high or not one."""
    return st.one_of(
        st.integers(1, usual).map(str),
        st.integers(1, usual).map(str),
        st.integers(low, high).map(str),
        st.sampled_from(ODD_NUMBERS),
    )


def offset() -> st.SearchStrategy[str]:
    minutes = st.integers(-14 * 60, 14 * 60).map(
        lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02}:{abs(m) % 60:02}"
    )
    return st.one_of(st.just("Z"), minutes)


def instants() -> st.SearchStrategy[str]:
    naive = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
    written = st.tuples(naive, offset()).map(lambda p: p[0].isoformat() + p[1])
    return st.one_of(st.sampled_from(EDGE_INSTANTS), written)


def days() -> st.SearchStrategy[date]:
    return st.one_of(st.sampled_from(EDGE_DAYS), st.dates(date(1, 1, 1), date(9999, 12, 31)))


@st.composite
def rules(draw: st.DrawFn) -> str:
    """Mostly rules of the subset, often with a part out of it."""
    freq = draw(st.sampled_from([*["DAILY", "WEEKLY", "MONTHLY", "YEARLY"] * 4, "HOURLY", "daily"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(number(12, -3, 1200))}")
    if draw(st.booleans()):
        ordinal = st.sampled_from(
            ["", "", "", "+1", "-1", "+5", "-5", "+6", "+53", "-53", "+54", "0"]
        )
        weekday = st.tuples(ordinal, st.sampled_from(WEEKDAYS)).map("".join)
        parts.append("BYDAY=" + ",".join(draw(st.lists(weekday, min_size=1, max_size=3))))
    if draw(st.booleans()):
        monthday = st.one_of(st.integers(1, 28), st.integers(-32, 32)).map(str)
        parts.append("BYMONTHDAY=" + ",".join(draw(st.lists(monthday, min_size=1, max_size=3))))
    if draw(st.booleans()):
        month = st.one_of(st.integers(1, 12), st.integers(0, 13)).map(str)
        parts.append("BYMONTH=" + ",".join(draw(st.lists(month, min_size=1, max_size=3))))
    ending = draw(st.sampled_from(["", "", "count", "until", "both"]))
    if ending in ("count", "both"):
        parts.append(f"COUNT={draw(number(50, 0, 1200))}")
    if ending in ("until", "both"):
        moment = draw(st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)))
        shape = draw(st.sampled_from(["%m%dT%H%M%SZ", "%m%dT%H%M%S", "%m%d"]))
        parts.append(f"UNTIL={moment.year:04}{moment.strftime(shape)}")
    return ";".join(parts)


@st.composite
def tasks(draw: st.DrawFn) -> dict[str, Any]:
    due: dict[str, Any] = (
        {"due_date": draw(instants())}
        if draw(st.booleans())
        else {"due_on": draw(days()).isoformat()}
    )
    reminders = draw(
        st.lists(
            st.one_of(
                st.sampled_from(["PT1M", "P7D", "PT30M"]).map(lambda d: {"before_due": d}),
                instants().map(lambda at: {"at": at}),
            ),
            max_size=2,
        )
    )
    basis = draw(st.sampled_from(["due", "completion"]))
    return {
        "title": "p",
        **due,
        "recurrence": {"rule": draw(rules()), "basis": basis},
        "reminders": reminders,
    }


def send(api: Api, check: RequestCheck, method: str, path: str, **kwargs: Any) -> httpx.Response:
    before = stepping.examined()
    response = api.request(method, path, **kwargs)
    check(response, stepping.examined() - before)
    return response


def completing(owner: User, task_id: str, way: str) -> tuple[str, str, dict[str, Any]]:
    base = f"/api/{owner.id}/tasks"
    item = {"op": "complete", "task_id": task_id, "body": {"is_completed": True}}
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "set": ("PATCH", f"{base}/{task_id}/complete", {"json": {"is_completed": True}}),
        "toggle": ("PATCH", f"{base}/{task_id}/complete", {}),
        "patch": ("PATCH", f"{base}/{task_id}", {"json": {"is_completed": True}}),
        "batch": ("POST", f"{base}/batch", {"json": {"operations": [item]}}),
    }
    return requests[way]


def _closed(response: httpx.Response) -> bool:
    body = response.json()
    task = body["results"][0]["task"] if "results" in body else body
    return bool(task["is_completed"])


def window_around(task: dict[str, Any]) -> dict[str, str]:
    """A 31-day window from the day before the task's due, within the calendar."""
    due = task["due_date"] or task["due_on"]
    start = datetime.fromisoformat(due[:10]) - timedelta(days=1) if due[:4] != "0001" else None
    start = min(start or datetime(1, 1, 1, 0, 0, 1), datetime(9999, 11, 30))
    end = start + timedelta(days=31)
    return {"from": start.isoformat() + "Z", "to": end.isoformat() + "Z"}


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    task=tasks(),
    zone_index=st.integers(min_value=0),
    ways=st.lists(st.sampled_from(["set", "toggle", "patch", "batch"]), min_size=1, max_size=3),
)
def test_dates_and_rules_anywhere_succeed_or_refuse_with_bounded_work(
    api: Api,
    user: User,
    zones: list[str],
    bounded_request: RequestCheck,
    task: dict[str, Any],
    zone_index: int,
    ways: list[str],
) -> None:
    zone = zones[zone_index % len(zones)]
    me = send(
        api, bounded_request, "PATCH", "/api/me", json={"timezone": zone}, headers=user.headers
    )
    assert me.status_code == 200, (zone, me.text)
    created = send(
        api, bounded_request, "POST", f"/api/{user.id}/tasks", json=task, headers=user.headers
    )
    event(f"create {created.status_code}")  # pytest --hypothesis-show-statistics
    if created.status_code != 201:
        assert created.status_code == 422, created.text
        return
    body = created.json()
    for way in ways:
        method, path, kwargs = completing(user, body["id"], way)
        done = send(api, bounded_request, method, path, headers=user.headers, **kwargs)
        assert done.status_code == 200, (way, done.text)
        event(f"completed: {'closed' if _closed(done) else 'advanced or reopened'}")
    window = window_around(body)
    listed = send(
        api,
        bounded_request,
        "GET",
        f"/api/{user.id}/reminders",
        params=window,
        headers=user.headers,
    )
    assert listed.status_code == 200, (window, listed.text)
    api.run(fire_due(api.app.ctx.db, api.app.ctx.queries))
