"""GET /reminders a page at a time (issue 23, finding 13: 25,000 reminders came as one 3.6 MB
answer): `limit` and an opaque `cursor` bound to the user and the window; a walk lists every
reminder once, by fire_at then task, while other writes go on; whatever else a client sends as
a cursor is a 400 at ["query","cursor"]."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from server.http.paging import encode_cursor
from server.tasks.reminder_pages import _context
from tests.support import Api, User

START = datetime(2030, 1, 1, tzinfo=UTC)
WINDOW = {"from": "2030-01-01T00:00:00Z", "to": "2030-02-01T00:00:00Z"}
PAGES = 1000  # more is a walk that never ends


def page(api: Api, owner: User, **params: Any) -> httpx.Response:
    return api.get(f"/api/{owner.id}/reminders", params={**WINDOW, **params}, headers=owner.headers)


def walk(api: Api, owner: User, limit: int, between: Callable[[], None] | None = None) -> list[Any]:
    """Every reminder of WINDOW, following next_cursor `limit` at a time (calling `between`
    after each page that has a next)."""
    listed: list[Any] = []
    cursor = None
    for _ in range(PAGES):
        response = page(api, owner, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        listed += body["reminders"]
        cursor = body["next_cursor"]
        if cursor is None:
            assert len(body["reminders"]) <= limit
            return listed
        assert len(body["reminders"]) == limit
        if between is not None:
            between()
    raise AssertionError(f"no last page after {PAGES} pages: the cursor does not advance")


def seed(sql: psycopg.Connection[Any], owner: User, tasks: int, title: str = "t") -> list[Any]:
    """`tasks` tasks of five `at` reminders each, many instants shared by several tasks, written
    straight to the table (the triggers keep reminder_times); their (fire_at, task_id), sorted."""
    made = sql.execute(
        "INSERT INTO tasks (user_id, list_id, title, reminders)"
        " SELECT %(u)s, (SELECT id FROM lists WHERE user_id = %(u)s AND is_inbox),"
        "        %(title)s || n,"
        "        (SELECT jsonb_agg(jsonb_build_object('at', %(start)s::timestamptz"
        "                 + (n %% 7) * interval '1 hour' + k * interval '3 days'))"
        "           FROM generate_series(0, 4) AS k)"
        "   FROM generate_series(1, %(n)s) AS n"
        " RETURNING id::text, reminders",
        {"u": owner.id, "n": tasks, "title": title, "start": START},
    ).fetchall()
    return sorted((_instant(r["at"]), task_id) for task_id, reminders in made for r in reminders)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def keys(listed: list[Any]) -> list[tuple[datetime, str]]:
    return [(_instant(r["fire_at"]), r["task_id"]) for r in listed]


def test_a_cursor_walks_every_reminder_once_by_fire_at_then_task(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    expected = seed(sql, user, 40)  # 200 reminders, each instant shared by 5 or 6 tasks
    seed(sql, other_user, 3, title="theirs")
    assert keys(walk(api, user, 7)) == expected
    whole = page(api, user).json()  # no limit: one page of up to 1,000
    assert keys(whole["reminders"]) == expected
    assert whole["next_cursor"] is None
    assert {r["title"] for r in whole["reminders"]} == {f"t{n}" for n in range(1, 41)}


def test_without_limit_an_old_client_gets_the_first_1000_and_a_cursor(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    expected = seed(sql, user, 201)  # 1,005 reminders in the window: five on each of 201 tasks
    first = page(api, user).json()
    assert keys(first["reminders"]) == expected[:1000]
    rest = page(api, user, cursor=first["next_cursor"]).json()
    assert keys(rest["reminders"]) == expected[1000:]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "10000000000000000000000", "x"])
def test_a_limit_outside_1_to_1000_is_400(api: Api, user: User, limit: str) -> None:
    response = page(api, user, limit=limit)
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]


def test_a_walk_lists_each_unchanged_reminder_once_in_order_under_concurrent_writes(
    api: Api, user: User, sql: psycopg.Connection[Any], database_url: str
) -> None:
    """A writer on its own connection keeps creating, re-timing, completing, reopening and
    deleting tasks with reminders across the whole window while the walk goes on; each page
    waits for one more of its writes. The walk is strictly ordered (nothing twice) and holds
    every reminder of the tasks nobody touched."""
    stable = seed(sql, user, 30)
    seed(sql, user, 10, title="churn")
    done, writes = threading.Event(), [0]
    wrote = threading.Condition()

    def writer() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            n = 0
            while not done.is_set():
                n += 1
                shift = f"{n % 31} days {n % 5} hours"
                statements = [
                    "INSERT INTO tasks (user_id, list_id, title, reminders)"
                    " SELECT %(u)s, id, 'new', jsonb_build_array(jsonb_build_object('at',"
                    " %(start)s::timestamptz + %(shift)s::interval)) FROM lists"
                    " WHERE user_id = %(u)s AND is_inbox",
                    "UPDATE tasks SET reminders = jsonb_build_array(jsonb_build_object('at',"
                    " %(start)s::timestamptz + %(shift)s::interval))"
                    " WHERE id = (SELECT id FROM tasks WHERE user_id = %(u)s AND title LIKE"
                    " 'churn%%' ORDER BY random() LIMIT 1)",
                    "UPDATE tasks SET is_completed = NOT is_completed,"
                    " completed_at = CASE WHEN is_completed THEN NULL ELSE now() END"
                    " WHERE id = (SELECT id FROM tasks WHERE user_id = %(u)s AND title LIKE"
                    " 'churn%%' ORDER BY random() LIMIT 1)",
                    "DELETE FROM tasks WHERE id = (SELECT id FROM tasks WHERE user_id = %(u)s"
                    " AND title = 'new' ORDER BY random() LIMIT 1)",
                ]
                conn.execute(statements[n % 4], {"u": user.id, "start": START, "shift": shift})
                with wrote:
                    writes[0] += 1
                    wrote.notify_all()

    def one_more_write() -> None:
        with wrote:
            seen = writes[0]
            assert wrote.wait_for(lambda: writes[0] > seen, timeout=10), "the writer stalled"

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        listed = keys(walk(api, user, 5, between=one_more_write))
    finally:
        done.set()
        thread.join()
    assert writes[0] > 40  # the walk met writes between at least 40 of its pages
    assert listed == sorted(set(listed))  # in order, nothing twice
    stable_ids = {task_id for _, task_id in stable}
    assert [k for k in listed if k[1] in stable_ids] == stable


def test_a_cursor_from_another_window_spelling_of_the_same_instants_is_accepted(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    expected = seed(sql, user, 4)
    first = page(api, user, limit=3).json()
    same = {"from": "2030-01-01T01:00:00+01:00", "to": "2030-01-31T19:00:00-05:00"}
    response = api.get(
        f"/api/{user.id}/reminders",
        params={**same, "limit": 100, "cursor": first["next_cursor"]},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    assert keys(response.json()["reminders"]) == expected[3:]


def _cursor(api: Api, owner: User, **window: str) -> str:
    params = {**WINDOW, **window, "limit": 1}
    body = api.get(f"/api/{owner.id}/reminders", params=params, headers=owner.headers).json()
    assert body["next_cursor"] is not None
    return str(body["next_cursor"])


def _forged(api: Api, owner: User, key: Any, last_id: Any) -> str:
    """A cursor this service's own secret signed, for this user and window, of any payload."""
    context = _context(owner.id, START, START + timedelta(days=31))
    return encode_cursor(api.app.ctx.settings.jwt_secret, context, key, last_id)


def test_a_garbled_tampered_foreign_or_forged_cursor_is_400(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    seed(sql, user, 3)
    seed(sql, other_user, 3)
    good = _cursor(api, user)
    flipped = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    task_page = api.get(f"/api/{user.id}/tasks", params={"limit": 1}, headers=user.headers)
    some_id = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
    refused = {
        "garbled": "not a cursor!",
        "padding": good + "=",
        "stray bits": good[:-1] + ("B" if good[-1] == "A" else "A"),
        "flipped": flipped,
        "truncated": good[:-4],
        "doubled": good + good,
        "empty MAC": "e30",
        "non-ASCII": "curs\u00f6r",
        "another user's": _cursor(api, other_user),
        "another window's": _cursor(api, user, to="2030-01-31T00:00:00Z"),
        "the task listing's": task_page.json()["next_cursor"],
        "a number for fire_at": _forged(api, user, 5, some_id),
        "a naive fire_at": _forged(api, user, "2030-01-05T00:00:00", some_id),
        "not a date": _forged(api, user, "2030-13-45T00:00:00Z", some_id),
        "not a task id": _forged(api, user, "2030-01-05T00:00:00+00:00", "x"),
        "a null task id": _forged(api, user, "2030-01-05T00:00:00+00:00", None),
        "year 10000": _forged(api, user, "10000-01-01T00:00:00+00:00", some_id),
    }
    for name, cursor in refused.items():
        response = page(api, user, cursor=cursor)
        assert response.status_code == 400, (name, response.text)
        assert response.json()["errors"][0]["loc"] == ["query", "cursor"], name
    assert page(api, user, cursor=good).status_code == 200


def test_reminders_at_year_1_and_9999_page_like_any(
    api: Api, user: User, make_task: Callable[..., Any]
) -> None:
    """The first and last instants a task may hold (asyncpg reads and writes the very first and
    last of Python's as -infinity and infinity, so the contract keeps them out)."""
    for edge, start, end in [
        ("0001-01-01T00:00:00.000001Z", "0001-01-01T00:00:00.000001Z", "0001-01-02T00:00:00Z"),
        ("9999-12-31T23:59:59.999997Z", "9999-12-31T00:00:00Z", "9999-12-31T23:59:59.999998Z"),
    ]:
        ids = sorted(make_task(user, reminders=[{"at": edge}])["id"] for _ in range(3))
        listed, cursor = [], None
        for _ in range(len(ids)):
            params = {
                "from": start,
                "to": end,
                "limit": 1,
                **({"cursor": cursor} if cursor else {}),
            }
            response = api.get(f"/api/{user.id}/reminders", params=params, headers=user.headers)
            assert response.status_code == 200, response.text
            listed += response.json()["reminders"]
            cursor = response.json()["next_cursor"]
        assert cursor is None
        assert [r["task_id"] for r in listed] == ids
        assert {_instant(r["fire_at"]) for r in listed} == {_instant(edge)}


def test_fire_times_before_year_1_are_not_listed_at_the_edges(
    api: Api, user: User, other_user: User
) -> None:
    """An all-day due on 0001-01-02 at +14 ends at 0001-01-02T10:00Z: seven days before is BC,
    a row of reminder_times no window reaches (nor could it be read back). The last day a task
    may hold, 9999-12-30 at -12, ends at 9999-12-31T12:00Z. Windows at the first and last
    instants a client can name list what lies inside them, by the page."""
    edges = [
        (user, "Etc/GMT-14", "0001-01-02", "0001-01-01T05:00:00Z"),
        (other_user, "Etc/GMT+12", "9999-12-30", "9999-12-31T23:00:00Z"),
    ]
    for owner, zone, due_on, at in edges:
        me = api.patch("/api/me", json={"timezone": zone}, headers=owner.headers)
        assert me.status_code == 200, me.text
        reminders = [{"before_due": "P7D"}, {"before_due": "PT1M"}, {"at": at}]
        body = {"title": "edge", "due_on": due_on, "reminders": reminders}
        made = api.post(f"/api/{owner.id}/tasks", json=body, headers=owner.headers)
        assert made.status_code == 201, made.text
    windows = [
        (user, "0001-01-01T00:00:00.000001Z", "0001-01-03T00:00:00Z", ["01 05:00", "02 09:59"]),
        (
            other_user,
            "9999-12-24T00:00:00Z",
            "9999-12-31T23:59:59.999998Z",
            ["24 12:00", "31 11:59", "31 23:00"],
        ),
    ]
    for owner, start, end, times in windows:
        listed, cursor = [], None
        for _ in range(len(times)):
            params = {
                "from": start,
                "to": end,
                "limit": 1,
                **({"cursor": cursor} if cursor else {}),
            }
            response = api.get(f"/api/{owner.id}/reminders", params=params, headers=owner.headers)
            assert response.status_code == 200, response.text
            listed += response.json()["reminders"]
            cursor = response.json()["next_cursor"]
        assert cursor is None
        assert [_instant(r["fire_at"]).strftime("%d %H:%M") for r in listed] == times
