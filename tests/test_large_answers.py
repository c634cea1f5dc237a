"""A large answer (an export, a calendar feed) is sent a part at a time as the client reads it,
in the slot it was made in: it stays in memory until it is sent (twenty exports a client opened
and did not read held a worker at 744 MB while each slot was given back once encoded), so the
slot is held until then, and a client that stops reading is cut off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import psycopg
import pytest
from sanic import Request

from server import slots as slots_module
from server.contract import parts
from server.slots import Slots
from server.system import middleware
from server.transfer import handlers
from tests.conftest import User
from tests.sharing import share
from tests.support import Api, until
from tests.test_export_import import encoding_held_open

TASKS = 5000  # of 2,000-character descriptions: an export of some 11 MB, a feed of some 12 MB,
# more than the sockets' buffers hold (4 MB as the server sends, 4 KB as the test reads)
SEED = """
INSERT INTO tasks (user_id, list_id, title, description, due_on)
SELECT l.user_id, l.id, 'Big ' || n, repeat('x', 2000), DATE '2030-01-01' + n
FROM lists l, generate_series(%(start)s, %(start)s + 999) n
WHERE l.user_id = %(user_id)s AND l.is_inbox
"""


def seeded(make_user: Callable[..., User], sql: psycopg.Connection[Any], name: str) -> User:
    owner: User = make_user(name=name)
    for start in range(0, TASKS, 1000):
        sql.execute(SEED, {"user_id": owner.id, "start": start})
    return owner


@pytest.fixture
def big(make_user: Callable[..., User], sql: psycopg.Connection[Any]) -> User:
    return seeded(make_user, sql, "Big")


def export(api: Api, owner: User) -> tuple[str, dict[str, str], Slots]:
    return f"/api/{owner.id}/export", owner.headers, api.app.ctx.exports


def feed(api: Api, owner: User) -> tuple[str, dict[str, str], Slots]:
    made = api.post(f"/api/{owner.id}/calendar-feeds", json={}, headers=owner.headers)
    assert made.status_code == 201, made.text
    return urlsplit(made.json()["url"]).path, {}, api.app.ctx.feeds


def asking(
    api: Api, path: str, headers: dict[str, str], buffer: int | None = 4096
) -> socket.socket:
    """A connection that has asked for `path` and read nothing yet (by default, its receive
    buffer kept small: a client that does not read holds little of the answer)."""
    sock = socket.socket()
    if buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    sock.connect(("127.0.0.1", api.port))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n{head}\r\n".encode())
    sock.setblocking(False)
    return sock


async def drained(sock: socket.socket) -> bytes:
    """All the connection gives until it closes."""
    loop, got = asyncio.get_running_loop(), bytearray()
    while True:
        try:
            part = await loop.sock_recv(sock, 1 << 20)
        except ConnectionResetError:
            return bytes(got)
        if not part:
            return bytes(got)
        got += part


async def whole(sock: socket.socket) -> bytes:
    """An answer read to its Content-Length (the connection kept alive after it)."""
    loop, got = asyncio.get_running_loop(), bytearray()
    while True:
        part = await loop.sock_recv(sock, 1 << 20)
        assert part, "closed before the whole answer"
        got += part
        _, ended, body = bytes(got).partition(b"\r\n\r\n")
        if ended and len(body) >= length_and_body(bytes(got))[0]:
            return bytes(got)


def length_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK", lines[0]
    fields = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
    assert "transfer-encoding" not in fields
    assert fields["x-accel-buffering"] == "yes"  # for nginx
    return int(fields["content-length"]), body


@pytest.mark.parametrize("answer", [export, feed], ids=["export", "feed"])
def test_an_answer_a_client_does_not_read_holds_its_slot_until_it_is_cut_off(
    api: Api, big: User, answer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the client has not read the answer, the same work asked for again is 503 busy (its
    slot is still held), and once the client has taken nothing for PART_SECONDS it is cut off,
    the slot is given back, and the next request is answered whole."""
    monkeypatch.setattr(parts, "PART_SECONDS", 1.0)
    path, headers, slots = answer(api, big)

    async def play() -> tuple[Any, bytes, Any]:
        sock = asking(api, path, headers)
        try:
            assert await until(lambda: slots.taken, within=30)
            await asyncio.sleep(0.5)  # made and checked long since: now being sent
            again = await api.arequest("GET", path, headers=headers)
            assert await until(lambda: not slots.taken, within=30)
            cut = await drained(sock)
        finally:
            sock.close()
        return again, cut, await api.arequest("GET", path, headers=headers)

    again, cut, whole = api.run(play())
    assert again.status_code == 503, again.text[:300]
    assert again.json()["type"].endswith("-busy")
    assert again.headers["Retry-After"] == "2"
    length, body = length_and_body(cut)
    assert len(body) < length  # cut off
    assert whole.status_code == 200
    assert int(whole.headers["content-length"]) == len(whole.content) == length
    assert whole.content.count(b"x" * 70) >= TASKS  # every description


def test_a_steady_reader_above_the_floor_gets_the_whole_export(
    api: Api, big: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor is a PART per PART_SECONDS of what the client takes, whatever the kernel's
    buffers do: a steady reader of some 2.5 times the floor (here 1.3 MB/s against 0.5 MB/s,
    with the receive buffer the kernel tunes, as every client has) reads the whole export,
    for many times PART_SECONDS. Timed by the writer's waits it was cut off: the transport
    wakes a writer only once megabytes of the kernel's buffer have drained."""
    monkeypatch.setattr(parts, "PART_SECONDS", 0.5)
    path, headers, slots = export(api, big)

    async def play() -> bytes:
        sock = asking(api, path, headers, buffer=None)
        loop, got, end = asyncio.get_running_loop(), bytearray(), None
        try:
            while end is None or len(got) < end:
                await asyncio.sleep(0.05)  # 1.3 MB/s at most: some 9 s for the export
                part = await loop.sock_recv(sock, 64_000)
                if not part:
                    break
                got += part
                if end is None and b"\r\n\r\n" in got:
                    end = got.index(b"\r\n\r\n") + 4 + length_and_body(bytes(got))[0]
        finally:
            sock.close()
        return bytes(got)

    length, body = length_and_body(api.run(play()))
    assert len(body) == length
    document = orjson.loads(body)
    assert len(document["tasks"]) == TASKS
    assert not slots.taken


def test_a_client_gone_while_its_export_is_checked_leaves_the_slot_held_until_the_check_ends(
    api: Api, big: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large answer's check reads the whole body again on a thread (an export of 50,000 tasks:
    some 35 MB more, and a second of a thread): a client that leaves meanwhile leaves its slot
    held until that thread is done, so leaving and asking again cannot pile checks up."""
    plan = api.app.ctx.plans["export_account"]
    checking, release = threading.Event(), threading.Event()
    check = plan.check_response

    def held_open(*args: Any) -> None:
        checking.set()
        release.wait(timeout=30)
        check(*args)

    monkeypatch.setattr(plan, "check_response", held_open)
    path, headers, slots = export(api, big)

    async def play() -> set[str]:
        sock = asking(api, path, headers)
        try:
            assert await until(checking.is_set, within=30)
        finally:
            sock.close()
        try:
            await asyncio.sleep(0.5)  # the request is gone: its handler was cancelled
            return set(slots.taken)
        finally:
            release.set()

    assert api.run(play()) == {big.id}
    assert api.run(until(lambda: not slots.taken, within=30))
    assert api.get(path, headers=headers).status_code == 200


def test_the_head_of_a_large_answer_is_its_get_s_without_an_error(
    api: Api, big: User, caplog: pytest.LogCaptureFixture
) -> None:
    """HEAD is answered by GET's operation (its body made, then dropped): a large one too, with
    the length of its GET, its slot given back, and nothing logged as an error."""
    path, headers, slots = export(api, big)
    with caplog.at_level(logging.WARNING):
        head = api.request("HEAD", path, headers=headers, check=False)
    assert head.status_code == 200
    assert head.content == b""
    length = int(head.headers["content-length"])
    assert length > 10_000_000
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not slots.taken
    whole = api.get(path, headers=headers)
    assert len(whole.content) == int(whole.headers["content-length"])
    assert abs(len(whole.content) - length) <= len(".000000")  # exported_at: its microseconds


@pytest.mark.parametrize(
    ("per_client", "status"), [(10, 200), (handlers.EXPORTS_PER_CLIENT, 503)], ids=["others", "own"]
)
def test_answers_being_sent_hold_their_keys_and_their_clients_count_not_the_turns(
    api: Api,
    big: User,
    make_user: Callable[..., User],
    sql: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    per_client: int,
    status: int,
) -> None:
    """A slow reader holds its own key, its bytes and its client's count, never another
    request's turn to be made: while two large exports (as many as a worker makes at once) are
    unread, a third account's export is made at once; but a client (an address: the test has
    one) with EXPORTS_PER_CLIENT exports unsent waits for one to be sent (here in vain)."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)  # unread for the whole test, not cut off
    other, small = seeded(make_user, sql, "Other"), make_user(name="Small")
    slots = api.app.ctx.exports
    monkeypatch.setattr(slots, "per_client", per_client)

    async def play() -> Any:
        socks = [asking(api, *export(api, who)[:2]) for who in (big, other)]
        try:
            assert await until(lambda: slots.held > 2 * 10_000_000, within=30)  # made, unsent
            slots.wait = 0.2
            return await api.arequest("GET", f"/api/{small.id}/export", headers=small.headers)
        finally:
            slots.wait = handlers.EXPORT_WAIT
            for sock in socks:
                sock.close()
            assert await until(lambda: not slots.taken, within=30)  # the readers gone

    answer = api.run(play())
    assert answer.status_code == status, answer.text[:300]
    if status == 503:
        assert answer.json()["type"].endswith("export-busy")


def test_past_the_bytes_made_and_not_sent_an_export_waits_until_they_go(
    api: Api, big: User, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes made and not sent yet are bounded per worker (EXPORTS_UNSENT): past it another
    account's export waits (503 export-busy past its wait), and is answered once the unread one
    is cut off."""
    monkeypatch.setattr(parts, "PART_SECONDS", 1.0)
    slots = api.app.ctx.exports
    monkeypatch.setattr(slots, "unsent", 1_000_000)
    small = make_user(name="Small")
    path = f"/api/{small.id}/export"

    async def play() -> tuple[Any, Any]:
        sock = asking(api, *export(api, big)[:2])
        try:
            assert await until(lambda: big.id in slots.taken and slots.held > 0, within=30)
            slots.wait = 0.2
            refused = await api.arequest("GET", path, headers=small.headers)
            slots.wait = handlers.EXPORT_WAIT
            answered = await api.arequest("GET", path, headers=small.headers)  # waits: cut off
            assert slots.held == 0
            return refused, answered
        finally:
            slots.wait = handlers.EXPORT_WAIT
            sock.close()

    refused, answered = api.run(play())
    assert refused.status_code == 503, refused.text[:300]
    assert refused.json()["type"].endswith("export-busy")
    assert answered.status_code == 200


def test_a_calendar_service_fetching_many_large_feeds_at_once_from_one_address_gets_them_all(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    """A calendar service polls its users' feeds from a few addresses: twelve large feeds (of
    some 2.4 MB) asked for at once from one address, and read at once, are each answered;
    past FEEDS_PER_CLIENT unsent, the next waits for one to be sent rather than being
    refused."""
    sql.execute(SEED, {"user_id": user.id, "start": 0})
    paths = [feed(api, user)[0] for _ in range(12)]
    answers = api.gather(*[lambda path=path: api.arequest("GET", path) for path in paths])
    assert [answer.status_code for answer in answers] == [200] * 12
    assert all(len(answer.content) > 2_000_000 for answer in answers)
    assert not api.app.ctx.feeds.taken
    assert api.app.ctx.feeds.held == 0


def test_a_client_gone_as_the_head_is_given_is_no_error(
    api: Api,
    user: User,
    sql: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that leaves just as a large answer's head is given (the connection closed
    between the head and the first part: a closed tab) is nothing to log as an error, and its
    slot is given back. It made Sanic answer its error on the head already given, and log two
    errors with their tracebacks."""
    sql.execute(SEED, {"user_id": user.id, "start": 0})  # some 2.4 MB
    logged = middleware.log_access

    def leaving(fields: Any) -> None:  # the access log is written as the head is given
        logged(fields)
        request: Any = Request.get_current()
        if request.path.endswith("/export"):
            request.transport.abort()

    monkeypatch.setattr(middleware, "log_access", leaving)
    path, headers, slots = export(api, user)
    with caplog.at_level(logging.WARNING), pytest.raises(httpx.RemoteProtocolError):
        api.get(path, headers=headers)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    monkeypatch.setattr(middleware, "log_access", logged)
    assert api.run(until(lambda: not slots.taken, within=10))
    assert api.get(path, headers=headers).status_code == 200


def test_bytes_made_while_a_request_waited_its_turn_keep_it_waiting_past_its_turn(
    api: Api,
    big: User,
    make_user: Callable[..., User],
    sql: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The unsent bytes are looked at again when a waiting request's turn comes: a large export
    made while another waited its turn, and sent to no reader, fills the budget, and the one
    that waited waits again, and is refused past its wait rather than made past the budget
    (no reader judged too slow to be cut off for it)."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)
    monkeypatch.setattr(slots_module, "SLOWER_THAN", 0)
    other, small = seeded(make_user, sql, "Other"), make_user(name="Small")
    slots = api.app.ctx.exports
    monkeypatch.setattr(slots, "per_client", 10)
    monkeypatch.setattr(slots, "unsent", 5_000_000)  # less than one export
    release = encoding_held_open(monkeypatch)

    async def play() -> Any:
        socks = [asking(api, *export(api, who)[:2]) for who in (big, other)]
        try:
            assert await until(lambda: len(slots.taken) == 2, within=30)  # both being made
            third = asyncio.ensure_future(
                api.arequest("GET", f"/api/{small.id}/export", headers=small.headers)
            )
            assert await until(lambda: small.id in slots.taken, within=30)  # waiting its turn
            release.set()
            return await third
        finally:
            release.set()
            for sock in socks:
                sock.close()
            assert await until(lambda: not slots.taken, within=30)

    refused = api.run(play())
    assert refused.status_code == 503, refused.text[:300]
    assert refused.json()["type"].endswith("export-busy")


async def logged_out(api: Api, owner: User) -> None:
    done = await api.arequest("POST", "/api/auth/logout-all", headers=owner.headers)
    assert done.status_code == 204, done.text


async def account_deleted(api: Api, owner: User) -> None:
    body = {"password": owner.password}
    done = await api.arequest("DELETE", "/api/me", json=body, headers=owner.headers)
    assert done.status_code == 204, done.text


async def feed_revoked(api: Api, owner: User) -> None:
    url = f"/api/{owner.id}/calendar-feeds"
    feeds = (await api.arequest("GET", url, headers=owner.headers)).json()["feeds"]
    for made in feeds:
        done = await api.arequest("DELETE", f"{url}/{made['id']}", headers=owner.headers)
        assert done.status_code == 204, done.text


PAGE = """
INSERT INTO tasks (user_id, list_id, title, description)
SELECT l.user_id, l.id, 'Wide ' || n, repeat('€', 2000)
FROM lists l, generate_series(1, 100) n
WHERE l.user_id = %(user_id)s AND l.is_inbox
"""


def page(api: Api, owner: User) -> tuple[str, dict[str, str], None]:
    """A page of the 100 tasks PAGE adds, of 2,000 three-byte characters each: some 650 KB,
    which the kernel's send queue (some 4 MB, as it grows) would have held whole; no slot."""
    return f"/api/{owner.id}/tasks?limit=100", owner.headers, None


async def within(seconds: float, reading: Any) -> Any:
    return await asyncio.wait_for(reading, seconds)


@pytest.mark.parametrize(
    ("answer", "end"),
    [(export, logged_out), (export, account_deleted), (feed, feed_revoked), (page, logged_out)],
    ids=["export-logout-all", "export-account-deleted", "feed-revoked", "page-logout-all"],
)
def test_an_answer_being_sent_is_cut_off_once_the_access_it_was_read_under_ends(
    api: Api,
    big: User,
    answer: Any,
    end: Any,
    sql: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A session ended, an account deleted or a feed revoked reaches an answer already being
    sent: it goes on while its access holds (asked again every RECHECK_SECONDS), and once it
    has not, the connection is reset where the client is: what the kernel still queued for it
    is not delivered (a plain close delivered some 2.8 MB more, and a whole page). A client
    that does not read is not cut off for its pace here (PART_SECONDS 30)."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)
    monkeypatch.setattr(parts, "RECHECK_SECONDS", 0.2)
    caplog.set_level(logging.INFO, logger="todo_api")
    if answer is page:
        sql.execute(PAGE, {"user_id": big.id})
    path, headers, slots = answer(api, big)

    async def play() -> tuple[bool, bytes]:
        sock = asking(api, path, headers)
        try:
            if slots is not None:
                assert await until(lambda: slots.answers, within=30)  # made, being sent
            await asyncio.sleep(1.5)  # asked again several times meanwhile
            held_while_live = slots is None or bool(slots.taken)
            await end(api, big)
            if slots is None:
                await asyncio.sleep(3)  # asked again within a second and a RECHECK_SECONDS
            else:
                assert await until(lambda: not slots.taken, within=10)
            return held_while_live, await within(10, drained(sock))
        finally:
            sock.close()

    held_while_live, got = api.run(play())
    assert held_while_live  # the access holding, the answer went on
    length, body = length_and_body(got)
    assert len(body) < parts.PART // 2 < length  # what the client's buffer held: nothing after
    cuts = [r.getMessage() for r in caplog.records if "cut off" in r.getMessage()]
    assert cuts
    assert all("its access ended" in cut for cut in cuts), cuts
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


WIDE = """
INSERT INTO tasks (user_id, list_id, title, description)
SELECT %(user_id)s, %(list_id)s, 'Wide ' || n, repeat('€', 2000) FROM generate_series(1, 100) n
"""


def test_a_large_page_of_a_shared_list_is_cut_off_once_the_list_is_no_longer_shared(
    api: Api,
    make_user: Callable[..., User],
    sql: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A member's page of a shared list (some 650 KB) comes whole while the list is shared
    with them, the membership asked as it is sent; once its owner removes them, a page being
    sent is cut off where its client is, as a session's end cuts one (its owner's tasks are
    no longer theirs to read)."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)
    monkeypatch.setattr(parts, "RECHECK_SECONDS", 0.2)
    caplog.set_level(logging.INFO, logger="todo_api")
    owner, member = make_user(name="Owner"), make_user(name="Member")
    made = api.post(f"/api/{owner.id}/lists", json={"name": "Shared"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    list_id = made.json()["id"]
    sql.execute(WIDE, {"user_id": owner.id, "list_id": list_id})
    share(sql, owner, list_id, member, "viewer")
    path = f"/api/{member.id}/tasks?limit=100&list_id={list_id}"

    async def play() -> tuple[bytes, bytes]:
        reader = asking(api, path, member.headers, buffer=None)
        try:
            read_whole = await within(10, whole(reader))
        finally:
            reader.close()
        sock = asking(api, path, member.headers)
        try:
            await asyncio.sleep(1.5)  # asked again several times meanwhile
            url = f"/api/{owner.id}/lists/{list_id}/members/{member.id}"
            removed = await api.arequest("DELETE", url, headers=owner.headers)
            assert removed.status_code == 204, removed.text
            await asyncio.sleep(3)  # asked again within a second and a RECHECK_SECONDS
            return read_whole, await within(10, drained(sock))
        finally:
            sock.close()

    read_whole, got = api.run(play())
    length, body = length_and_body(read_whole)
    assert len(body) == length > parts.PART * 2  # shared: the page, whole
    assert len(orjson.loads(body)["tasks"]) == 100
    length, body = length_and_body(got)
    assert len(body) < parts.PART // 2 < length  # what the client's buffer held: nothing after
    cuts = [r.getMessage() for r in caplog.records if "cut off" in r.getMessage()]
    assert len(cuts) == 1, cuts
    assert "no longer shared" in cuts[0], cuts
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_export_whose_session_ends_while_it_is_made_is_answered_401(
    api: Api, big: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The access is asked again before the answer's head: a session ended while its export
    waited its turn or was made is the 401 it would be a moment later, not a 200 with part of
    the account's tasks."""
    release = encoding_held_open(monkeypatch)
    slots = api.app.ctx.exports

    async def play() -> Any:
        asked = asyncio.ensure_future(
            api.arequest("GET", f"/api/{big.id}/export", headers=big.headers)
        )
        try:
            assert await until(lambda: slots.taken, within=30)  # read under the live session
            await logged_out(api, big)
        finally:
            release.set()
        return await asked

    answered = api.run(play())
    assert answered.status_code == 401, answered.text[:300]
    assert api.run(until(lambda: not slots.taken, within=10))


def test_an_access_check_that_cannot_be_made_cuts_nothing(
    api: Api, big: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every pool connection taken past the pool's acquire timeout while an export is sent:
    the re-check cannot tell, and the reader whose session is live is not cut off for it (the
    check is asked again, and the export comes whole); that is logged once."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)
    monkeypatch.setattr(parts, "RECHECK_SECONDS", 0.2)
    db, slots = api.app.ctx.db, api.app.ctx.exports

    async def hold_all(seconds: float) -> None:
        conns: list[Any] = []
        while len(conns) < db.size:  # in line with the outbox's loops and the re-checks
            with contextlib.suppress(TimeoutError):
                conns.append(await db.acquire())
        await asyncio.sleep(seconds)
        for conn in conns:
            await db.release(conn)

    async def play() -> bytes:
        sock = asking(api, f"/api/{big.id}/export", big.headers, buffer=None)
        try:
            assert await until(lambda: slots.answers, within=30)
            await hold_all(db.acquire_timeout + 1)
            return await within(30, whole(sock))
        finally:
            sock.close()

    length, body = length_and_body(api.run(play()))
    assert len(body) == length  # whole
    warned = [r for r in caplog.records if "could not be checked" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in warned]


@pytest.mark.parametrize(
    ("slower_than", "status"), [(slots_module.SLOWER_THAN, 200), (0, 503)], ids=["slow", "not"]
)
def test_past_the_bytes_a_waiting_export_has_the_slowest_reader_cut_off(
    api: Api,
    big: User,
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
    slower_than: int,
    status: int,
) -> None:
    """While a reader slower than SLOWER_THAN holds the bytes made and not sent, another
    account's export waiting for them has it cut off (short of its Content-Length) and is
    answered; a reader not judged too slow is left to read, and the waiting export is refused
    past its wait. The unread one is never cut off for its pace here (PART_SECONDS 30)."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)
    monkeypatch.setattr(slots_module, "JUDGED_AFTER", 0.5)
    monkeypatch.setattr(slots_module, "SLOWER_THAN", slower_than)
    slots = api.app.ctx.exports
    monkeypatch.setattr(slots, "unsent", 1_000_000)
    monkeypatch.setattr(slots, "wait", 2.0)
    small = make_user(name="Small")

    async def play() -> tuple[Any, bool, bytes]:
        sock = asking(api, *export(api, big)[:2])
        try:
            assert await until(lambda: big.id in slots.answers, within=30)
            answered = await api.arequest("GET", f"/api/{small.id}/export", headers=small.headers)
            still_sent = big.id in slots.taken
            got = await drained(sock) if not still_sent else b""
        finally:
            sock.close()
        assert await until(lambda: not slots.taken, within=40)
        return answered, still_sent, got

    answered, still_sent, got = api.run(play())
    assert answered.status_code == status, answered.text[:300]
    assert still_sent is (status == 503)
    if status == 200:
        length, body = length_and_body(got)
        assert len(body) < length


def test_a_request_gone_early_in_its_wait_has_no_reader_cut_off(
    api: Api, big: User, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request has a slow reader cut off only once it has waited half its wait: one that
    leaves sooner (or is let in sooner) cost nobody an answer, so waiting requests sent for
    nothing cut no reader off the moment they arrive."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)
    monkeypatch.setattr(slots_module, "JUDGED_AFTER", 0.5)
    slots = api.app.ctx.exports
    monkeypatch.setattr(slots, "unsent", 1_000_000)
    monkeypatch.setattr(slots, "wait", 6.0)
    small = make_user(name="Small")

    async def play() -> bool:
        sock = asking(api, *export(api, big)[:2])
        try:
            assert await until(lambda: big.id in slots.answers, within=30)
            await asyncio.sleep(1)  # judged: far under SLOWER_THAN
            with pytest.raises(httpx.ReadTimeout):
                await api.arequest(
                    "GET", f"/api/{small.id}/export", headers=small.headers, timeout=2.0
                )
            await asyncio.sleep(0.5)
            pace = slots.answers[big.id].pace
            return pace is not None and not pace.cut
        finally:
            sock.close()

    assert api.run(play())
    assert api.run(until(lambda: not slots.taken, within=30))


def test_the_last_part_waits_a_bounded_time_for_the_client_to_take_the_rest(
    api: Api, big: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last part waits for the client to take the rest, but no longer than TAKEN_WAIT:
    nothing is written meanwhile, and Sanic ends a handler that writes nothing for its
    RESPONSE_TIMEOUT (a 40 KB/s reader lost the end of a 5 MB export that way). A client that
    does not read (nor is cut for its pace here) has the last part handed over after it."""
    monkeypatch.setattr(parts, "PART_SECONDS", 30)
    monkeypatch.setattr(parts, "TAKEN_WAIT", 1.0)
    slots = api.app.ctx.exports

    async def play() -> tuple[int, int]:
        sock = asking(api, f"/api/{big.id}/export", big.headers)
        loop, got = asyncio.get_running_loop(), bytearray()
        try:
            while b"\r\n\r\n" not in got:
                got += await loop.sock_recv(sock, 1 << 16)
            length = length_and_body(bytes(got))[0]
            while len(length_and_body(bytes(got))[1]) < length - 2 * parts.PART:
                got += await loop.sock_recv(sock, 1 << 16)  # all but the end taken: stop
            pace = slots.answers[big.id].pace
            assert pace is not None
            await asyncio.sleep(3)  # the rest written long since, and TAKEN_WAIT passed
            return pace.written, length
        finally:
            sock.close()

    written, length = api.run(play())
    assert written == length  # the last part handed over to the transport all the same
