"""Calendar feeds (SPEC §13): a secret URL serving open dated tasks as RFC 5545 VTODOs, read
back by the `icalendar` library (code we did not write); ETag and 304; revocation, a deleted
list or account, and the secret kept out of the access log."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import icalendar
import psycopg
import pytest

from server.feeds import handlers
from tests.conftest import User
from tests.support import Api, until


def make_feed(api: Api, owner: User, **body: Any) -> dict[str, Any]:
    response = api.post(f"/api/{owner.id}/calendar-feeds", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def feed_path(feed: dict[str, Any]) -> str:
    return urlsplit(feed["url"]).path


def read_feed(api: Api, feed: dict[str, Any], **kwargs: Any) -> Any:
    response = api.get(feed_path(feed), **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.content)


def todos(calendar: Any) -> dict[str, Any]:
    return {str(todo["UID"]): todo for todo in calendar.walk("VTODO")}


def new_task(api: Api, owner: User, **fields: Any) -> dict[str, Any]:
    response = api.post(
        f"/api/{owner.id}/tasks", json={"title": "A task", **fields}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def test_a_feed_serves_each_open_task_with_a_due_as_a_vtodo(api: Api, user: User) -> None:
    parent = new_task(
        api,
        user,
        title="Pay rent",
        description="Bank transfer",
        due_on="2025-02-01",
        priority="high",
        tags=["home", "money"],
        recurrence={"rule": "FREQ=MONTHLY;BYMONTHDAY=1"},
    )
    child = new_task(
        api, user, title="Check balance", due_date="2025-01-31T17:30:00Z", parent_id=parent["id"]
    )
    new_task(api, user, title="No due")
    done = new_task(api, user, title="Done", due_on="2025-01-05")
    api.patch(f"/api/{user.id}/tasks/{done['id']}/complete", headers=user.headers)
    feed = make_feed(api, user)

    found = todos(read_feed(api, feed))

    assert set(found) == {parent["id"], child["id"]}
    rent = found[parent["id"]]
    assert str(rent["SUMMARY"]) == "Pay rent"
    assert str(rent["DESCRIPTION"]) == "Bank transfer"
    assert rent["DUE"].dt == date(2025, 2, 1)  # VALUE=DATE: a date, not a date-time
    assert rent["DTSTART"].dt == date(2025, 2, 1)
    assert rent["RRULE"]["FREQ"] == ["MONTHLY"]
    assert rent["RRULE"]["BYMONTHDAY"] == [1]
    assert int(rent["PRIORITY"]) == 1
    assert [str(c) for c in rent["CATEGORIES"].cats] == ["home", "money"]
    assert str(rent["STATUS"]) == "NEEDS-ACTION"
    assert isinstance(rent["DTSTAMP"].dt, datetime)
    balance = found[child["id"]]
    assert balance["DUE"].dt == datetime.fromisoformat("2025-01-31T17:30:00+00:00")
    assert str(balance["RELATED-TO"]) == parent["id"]
    assert int(balance["PRIORITY"]) == 5


def test_text_that_needs_escaping_and_folding_reads_back_whole(api: Api, user: User) -> None:
    title = "Milk, eggs; bread\\butter " + "🥛" * 60 + " done"
    description = "Line one\nLine two, with a comma; and a semicolon\r\nthird " + "é" * 300
    made = new_task(
        api, user, title=title, description=description, due_on="2025-03-01", tags=["a,b", "c;d"]
    )
    feed = make_feed(api, user)

    raw = api.get(feed_path(feed)).content
    assert all(len(line) <= 75 for line in raw.split(b"\r\n")), "lines are folded at 75 octets"
    raw.decode("utf-8")  # folding never splits a character's bytes
    todo = todos(icalendar.Calendar.from_ical(raw))[made["id"]]
    assert str(todo["SUMMARY"]) == title
    assert str(todo["DESCRIPTION"]) == description.replace("\r\n", "\n")
    assert [str(c) for c in todo["CATEGORIES"].cats] == ["a,b", "c;d"]


def test_no_character_of_a_title_breaks_a_line_for_any_reader(api: Api, user: User) -> None:
    """A reader that splits on every Unicode line break (Python's str.splitlines, some
    calendar apps) finds no line the service did not end with CRLF: U+2028, U+2029 and NEL
    in a text are written as the escaped newline, so `END:VTODO` in a title stays text."""
    forged = "END:VTODO{0}BEGIN:VTODO{0}UID:forged{0}SUMMARY:forged"
    made = [
        new_task(api, user, title="ok" + forged.format(sep), due_on="2025-03-01")
        for sep in ("\u2028", "\u2029", "\x85")
    ]
    feed = make_feed(api, user)

    text = api.get(feed_path(feed)).content.decode("utf-8")
    assert text.splitlines() == text.split("\r\n")[:-1]
    found = todos(icalendar.Calendar.from_ical(text))
    assert set(found) == {task["id"] for task in made}
    assert {str(todo["SUMMARY"]) for todo in found.values()} == {"ok" + forged.format("\n")}


@pytest.mark.parametrize(
    ("fields", "due"),
    [
        ({"due_on": "0001-01-02"}, date(1, 1, 2)),
        ({"due_on": "9999-12-30"}, date(9999, 12, 30)),
        ({"due_date": "0001-01-01T00:00:01Z"}, datetime.fromisoformat("0001-01-01T00:00:01+00:00")),
        ({"due_date": "9999-12-31T23:59:59Z"}, datetime.fromisoformat("9999-12-31T23:59:59+00:00")),
    ],
)
def test_dues_at_the_ends_of_the_calendar_keep_four_digit_years(
    api: Api, user: User, fields: dict[str, str], due: date
) -> None:
    made = new_task(api, user, **fields)
    raw = api.get(feed_path(make_feed(api, user))).content
    assert f"{due.year:04d}{due.month:02d}{due.day:02d}".encode() in raw
    assert todos(icalendar.Calendar.from_ical(raw))[made["id"]]["DUE"].dt == due


def test_an_until_keeps_the_value_type_of_the_due(api: Api, user: User) -> None:
    all_day = new_task(
        api, user, due_on="2025-01-06", recurrence={"rule": "FREQ=WEEKLY;UNTIL=20250301T120000Z"}
    )
    timed = new_task(
        api, user, due_date="2025-01-06T09:00:00Z", recurrence={"rule": "FREQ=DAILY;UNTIL=20250301"}
    )
    found = todos(read_feed(api, make_feed(api, user)))
    assert found[all_day["id"]]["RRULE"]["UNTIL"] == [date(2025, 3, 1)]
    assert found[timed["id"]]["RRULE"]["UNTIL"] == [
        datetime.fromisoformat("2025-03-01T23:59:59+00:00")
    ]


def test_a_feed_of_one_list_serves_that_list_alone_the_inbox_too(api: Api, user: User) -> None:
    inbox_task = new_task(api, user, title="In the inbox", due_on="2025-01-10")
    groceries = api.post(
        f"/api/{user.id}/lists", json={"name": "Groceries"}, headers=user.headers
    ).json()
    listed = new_task(api, user, title="Milk", due_on="2025-01-11", list_id=groceries["id"])
    inbox_id = inbox_task["list_id"]

    assert set(todos(read_feed(api, make_feed(api, user, list_id=groceries["id"])))) == {
        listed["id"]
    }
    inbox_feed = read_feed(api, make_feed(api, user, list_id=inbox_id))
    assert set(todos(inbox_feed)) == {inbox_task["id"]}
    assert str(inbox_feed["X-WR-CALNAME"]) == "Inbox"


def test_a_change_reaches_the_next_poll_and_an_unchanged_feed_is_304(api: Api, user: User) -> None:
    made = new_task(api, user, title="Before", due_on="2025-01-10")
    feed = make_feed(api, user)
    first = api.get(feed_path(feed))
    tag = first.headers["etag"]

    assert api.get(feed_path(feed), headers={"If-None-Match": tag}).status_code == 304
    api.patch(f"/api/{user.id}/tasks/{made['id']}", json={"title": "After"}, headers=user.headers)
    polled = api.get(feed_path(feed), headers={"If-None-Match": tag})
    assert polled.status_code == 200
    assert polled.headers["etag"] != tag
    assert str(todos(icalendar.Calendar.from_ical(polled.content))[made["id"]]["SUMMARY"]) == (
        "After"
    )


def test_a_revoked_feed_is_404_at_once_and_listing_shows_no_secret(
    api: Api, user: User, other_user: User
) -> None:
    feed = make_feed(api, user)
    listed = api.get(f"/api/{user.id}/calendar-feeds", headers=user.headers).json()["feeds"]
    assert [f["id"] for f in listed] == [feed["id"]]
    assert "url" not in listed[0]
    assert feed_path(feed).rsplit("/", 1)[1] not in str(listed)

    foreign = api.delete(
        f"/api/{other_user.id}/calendar-feeds/{feed['id']}", headers=other_user.headers
    )
    assert foreign.status_code == 404
    assert api.get(feed_path(feed)).status_code == 200
    assert (
        api.delete(f"/api/{user.id}/calendar-feeds/{feed['id']}", headers=user.headers).status_code
        == 204
    )
    assert api.get(feed_path(feed)).status_code == 404
    assert api.get(f"/api/{user.id}/calendar-feeds", headers=user.headers).json()["feeds"] == []


def test_a_feed_whose_list_or_account_is_deleted_is_404(
    api: Api, user: User, database_url: str
) -> None:
    groceries = api.post(
        f"/api/{user.id}/lists", json={"name": "Groceries"}, headers=user.headers
    ).json()
    of_list, of_all = make_feed(api, user, list_id=groceries["id"]), make_feed(api, user)
    api.delete(f"/api/{user.id}/lists/{groceries['id']}", headers=user.headers)
    assert api.get(feed_path(of_list)).status_code == 404
    assert api.get(feed_path(of_all)).status_code == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (user.id,))
    assert api.get(feed_path(of_all)).status_code == 404


def test_a_feed_of_a_list_not_ones_own_is_refused(api: Api, user: User, other_user: User) -> None:
    theirs = api.get(f"/api/{other_user.id}/lists", headers=other_user.headers).json()["lists"][0]
    response = api.post(
        f"/api/{user.id}/calendar-feeds", json={"list_id": theirs["id"]}, headers=user.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "list_id"]


def test_an_unknown_secret_is_404_and_a_misshapen_one_400(api: Api) -> None:
    assert api.get("/calendar/tdc_" + "A" * 43).status_code == 404
    assert api.get("/calendar/not-a-secret").status_code == 400


def test_the_secret_never_reaches_the_access_log(
    api: Api, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    feed = make_feed(api, user)
    secret = feed_path(feed).rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="todo_api.access"):
        assert api.get(feed_path(feed)).status_code == 200
        api.delete(f"/api/{user.id}/calendar-feeds/{feed['id']}", headers=user.headers)
        assert api.get(feed_path(feed)).status_code == 404
    lines = [r for r in caplog.records if r.name == "todo_api.access"]
    assert [getattr(r, "path", None) for r in lines].count("/calendar/{feed_token}") == 2
    assert all(secret not in str(vars(r)) for r in caplog.records)


def test_a_change_of_zone_reaches_a_local_until(api: Api, user: User) -> None:
    made = new_task(
        api,
        user,
        due_date="2025-01-06T09:00:00Z",
        recurrence={"rule": "FREQ=DAILY;UNTIL=20250301T120000"},
    )
    feed = make_feed(api, user)
    first = api.get(feed_path(feed))
    assert todos(icalendar.Calendar.from_ical(first.content))[made["id"]]["RRULE"]["UNTIL"] == [
        datetime.fromisoformat("2025-03-01T12:00:00+00:00")
    ]
    assert (
        api.patch("/api/me", json={"timezone": "Asia/Tokyo"}, headers=user.headers).status_code
        == 200
    )
    polled = api.get(feed_path(feed), headers={"If-None-Match": first.headers["etag"]})
    assert polled.status_code == 200
    assert todos(icalendar.Calendar.from_ical(polled.content))[made["id"]]["RRULE"]["UNTIL"] == [
        datetime.fromisoformat("2025-03-01T03:00:00+00:00")
    ]


def test_feeds_of_another_account_are_not_reachable(api: Api, user: User, other_user: User) -> None:
    for method, path in (
        ("GET", f"/api/{user.id}/calendar-feeds"),
        ("POST", f"/api/{user.id}/calendar-feeds"),
        ("GET", f"/api/{user.id}/export"),
        ("POST", f"/api/{user.id}/import"),
    ):
        body = (
            {"format": "todo-api.export.v1", "lists": [], "tasks": []} if "import" in path else {}
        )
        kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
        response = api.request(method, path, headers=other_user.headers, **kwargs)
        assert response.status_code == 403, (path, response.text)


def test_a_worker_writes_a_feed_one_at_a_time_and_four_at_once(
    api: Api, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed's text is written whole in memory (10,000 VTODOs: some 20-40 MB at its peak;
    sixteen requests of one URL at once held a worker at 457 MB). While a feed is written, a
    request of the same URL is 503 feed-busy at once; while four are, a fifth feed waits its
    turn (503 feed-busy past FEED_WAIT) and is answered once one is done; an unchanged feed's
    304 needs no writing and is answered meanwhile."""
    new_task(api, user, due_on="2030-01-10")
    feeds = [make_feed(api, user) for _ in range(5)]
    release = threading.Event()
    written = handlers._written

    def held_open(*args: Any) -> bytes:
        release.wait(timeout=30)
        return written(*args)

    tag = api.get(feed_path(feeds[0])).headers["etag"]
    monkeypatch.setattr(handlers, "_written", held_open)
    slots = api.app.ctx.feeds

    def poll(feed: dict[str, Any], **headers: str) -> Any:
        return api.arequest("GET", feed_path(feed), headers=headers)

    async def race() -> tuple[list[Any], list[Any]]:
        held: list[asyncio.Future[Any]] = []

        def taken(n: int) -> bool:
            return len(slots.taken) == n or held[-1].done()

        try:
            held.append(asyncio.ensure_future(poll(feeds[0])))
            assert await until(functools.partial(taken, 1))
            again = await poll(feeds[0])  # the same feed, while it is written (room for more)
            for n, feed in enumerate(feeds[1:4], start=2):
                held.append(asyncio.ensure_future(poll(feed)))
                assert await until(functools.partial(taken, n))
            slots.wait = 0.2
            late = await poll(feeds[4])  # waited its turn 0.2 s, in vain
            slots.wait = handlers.FEED_WAIT
            held.append(asyncio.ensure_future(poll(feeds[4])))
            assert await until(functools.partial(taken, 5))  # waiting its turn
            unchanged = await poll(feeds[0], **{"If-None-Match": tag})
            assert unchanged.status_code == 304, unchanged.text
            await asyncio.sleep(0.2)
            assert not any(answer.done() for answer in held)
        finally:
            release.set()
        return [again, late], [await answer for answer in held]

    refused, answered = api.run(race())
    for busy in refused:
        assert busy.status_code == 503, busy.text
        assert busy.json()["type"].endswith("feed-busy")
        assert busy.headers["Retry-After"] == "2"
    assert [answer.status_code for answer in answered] == [200] * 5
    assert not slots.taken  # each let go once its text was sent
