"""Sessions end streams (SPEC §9 with §7): an open event stream ends, with `event: end` saying
why, within a second of each revocation of what opened it (logout of its session, logout-all,
the session ended by id, a password change or reset, the account deleted), at its access token's
`exp`,
and at the end of its session's lifetime; also a stream held by another service process, and a
stream whose client has stopped reading. Nothing committed after the revocation reaches it.
Ending another session of the user leaves it open. HEAD answers the headers and ends."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import asyncpg
import httpx
import jwt
import psycopg
import pytest

from server.access.tokens import issue_access_token, new_refresh_token
from server.config import Settings
from tests.live import LiveServer
from tests.support import Api, User
from tests.test_events import Listener, create, other_instance, publish_reminder, stream
from tests.test_sessions import LOGOUT, LOGOUT_ALL, ME, SESSIONS, bearer, log_in

__all__ = ["other_instance"]  # the module-scoped second process of test_events, shared

Pair = dict[str, Any]
Revoke = Callable[[Api, User, Pair, Pair], Awaitable[httpx.Response]]
NEW_PASSWORD = "a brand new passphrase"


async def _session_of(api: Api, pair: Pair) -> str:
    sessions = (await api.arequest("GET", SESSIONS, headers=bearer(pair))).json()["sessions"]
    return str(next(s["id"] for s in sessions if s["current"]))


async def _reset_password(api: Api, user: User, pair: Pair, other: Pair) -> httpx.Response:
    """The reset link's confirmation (its token stored as a reset request stores it)."""
    token, token_hash = new_refresh_token()
    with psycopg.connect(api.app.ctx.settings.database_url or "", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)"
            " VALUES (%s, %s, 'reset-password', %s, now() + interval '30 minutes')",
            (token_hash, user.id, user.email),
        )
    body = {"token": token, "new_password": NEW_PASSWORD}
    return await api.arequest("POST", "/api/auth/password-reset/confirm", json=body)


async def _end_session(api: Api, user: User, pair: Pair, other: Pair) -> httpx.Response:
    session = await _session_of(api, pair)
    return await api.arequest("DELETE", f"{SESSIONS}/{session}", headers=bearer(other))


# Each revocation of the stream's session (`pair`), made with another login (`other`), and the
# reason the stream must give.
REVOCATIONS: dict[str, tuple[Revoke, str]] = {
    "logout": (
        lambda api, user, pair, other: api.arequest(
            "POST", LOGOUT, json={"refresh_token": pair["refresh_token"]}
        ),
        "session-ended",
    ),
    "logout-all": (
        lambda api, user, pair, other: api.arequest("POST", LOGOUT_ALL, headers=bearer(other)),
        "session-ended",
    ),
    "end the session": (_end_session, "session-ended"),
    "password change": (
        lambda api, user, pair, other: api.arequest(
            "PUT",
            "/api/me/password",
            json={"current_password": user.password, "new_password": NEW_PASSWORD},
            headers=bearer(other),
        ),
        "session-ended",
    ),
    "password reset": (_reset_password, "session-ended"),
    "delete me": (
        lambda api, user, pair, other: api.arequest(
            "DELETE", ME, json={"password": user.password}, headers=bearer(other)
        ),
        "account-deleted",
    ),
}


def holder(user: User, pair: Pair) -> User:
    """The user as `stream` takes it, speaking with the access token of `pair`."""
    return dataclasses.replace(user, access_token=pair["access_token"])


async def survivor(api: Api, user: User, other: Pair, how: str) -> Pair | None:
    """A login that still works after the revocation `how` (None once the account is gone)."""
    if how == "delete me":
        return None
    if how == "logout":
        return other
    password = NEW_PASSWORD if how in ("password change", "password reset") else user.password
    body = {"email": user.email, "password": password}
    response = await api.arequest("POST", "/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    pair: Pair = response.json()
    return pair


async def ends(listener: Listener, within: float = 1) -> dict[str, Any]:
    """The stream's last event, `end`, arriving within `within` s; then the stream closes."""
    event = await listener.next(within=within)
    assert event["event"] == "end", event
    await asyncio.wait_for(listener.task, 1)
    return event


async def revoke_and_end(
    api: Api,
    client: httpx.AsyncClient,
    listener: Listener,
    user: User,
    logins: tuple[Pair, Pair],
    how: str,
) -> None:
    """Revokes the stream's login (the first) `how`, made with the other; commits a change by a
    login that survives the revocation; the stream's next event is its end, within a second,
    saying why, and nothing follows it."""
    revoke, reason = REVOCATIONS[how]
    response = await revoke(api, user, *logins)
    assert response.status_code == 204, response.text
    revoked = time.monotonic()
    alive = await survivor(api, user, logins[1], how)
    if alive is not None:
        await create(client, holder(user, alive), "After")
    event = await ends(listener)
    assert event["data"] == {"reason": reason}
    assert time.monotonic() - revoked < 1
    assert listener.events.empty(), "something was sent after the end"


@pytest.mark.parametrize("how", REVOCATIONS)
def test_each_revocation_ends_an_open_stream_within_a_second(
    api: Api, user: User, how: str
) -> None:
    pair, other = log_in(api, user), log_in(api, user)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, holder(user, pair)) as listener,
        ):
            before = await create(client, holder(user, other), "Before")
            assert (await listener.next(within=1))["data"]["id"] == before["id"]
            await revoke_and_end(api, client, listener, user, (pair, other), how)
            refused = await client.get(f"/api/{user.id}/events", headers=bearer(pair))
            assert refused.status_code == 401

    api.run(scenario())


@pytest.mark.slow
@pytest.mark.parametrize("how", REVOCATIONS)
def test_a_revocation_ends_a_stream_held_by_another_process(
    api: Api, user: User, other_instance: LiveServer, how: str
) -> None:
    pair, other = log_in(api, user), log_in(api, user)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=other_instance.url, timeout=30) as remote,
            stream(remote, holder(user, pair)) as listener,
        ):
            await revoke_and_end(api, remote, listener, user, (pair, other), how)

    api.run(scenario())


def test_ending_another_session_leaves_the_stream_open(api: Api, user: User) -> None:
    pair, other = log_in(api, user), log_in(api, user)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, holder(user, pair)) as listener,
        ):
            logout = {"refresh_token": other["refresh_token"]}
            assert (await api.arequest("POST", LOGOUT, json=logout)).status_code == 204
            task = await create(client, holder(user, pair), "Still here")
            event = await listener.next(within=1)
            assert (event["event"], event["data"]["id"]) == ("change", task["id"])

    api.run(scenario())


def test_a_stream_ends_at_its_access_tokens_exp(api: Api, user: User, settings: Settings) -> None:
    short = dataclasses.replace(settings, access_token_ttl=2)
    token = issue_access_token(short, user.id, user.session_id)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, dataclasses.replace(user, access_token=token)) as listener,
        ):
            task = await create(client, user, "Before exp")
            assert (await listener.next(within=1))["data"]["id"] == task["id"]
            event = await ends(listener, within=exp - time.time() + 1)
            assert event["data"] == {"reason": "token-expired"}
            assert exp - 0.1 <= time.time() < exp + 1  # at exp, not before, not long after

    api.run(scenario())


def test_a_stream_ends_when_its_sessions_lifetime_is_cut_short(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, user) as listener,
        ):
            await asyncio.to_thread(
                sql.execute,
                "UPDATE login_families SET expires_at = now() + interval '1 second' WHERE id = %s",
                (user.session_id,),
            )
            with pytest.raises(TimeoutError):  # still alive for its last second
                await listener.next(within=0.5)
            event = await ends(listener, within=1.5)
            assert event["data"] == {"reason": "session-ended"}

    api.run(scenario())


@pytest.mark.parametrize("delivery", ["change", "reminder"])
def test_a_stream_rechecks_its_session_before_each_delivery(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], delivery: str
) -> None:
    """With the revocation's own signal missing (triggers off for that statement), the next
    delivery's re-check still ends the stream instead of delivering. The session ends once the
    stream waits for signals: its answer is out before its first read (events.run), which is a
    re-check of its own and would end it before any delivery."""
    session = log_in(api, user)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, holder(user, session)) as listener,
        ):
            await _until(_waiting_for_a_signal, 5)
            await asyncio.to_thread(_end_silently, sql, user.id)
            with pytest.raises(TimeoutError):
                await listener.next(within=0.3)
            if delivery == "change":
                await create(client, user, "Unseen")  # user.headers: another, live session
            else:
                await publish_reminder(sql, user.id, "Unseen")
            event = await ends(listener)
            assert event["data"] == {"reason": "session-ended"}

    api.run(scenario())


def _end_silently(sql: psycopg.Connection[Any], user_id: str) -> None:
    """Ends the user's logged-in families (not the fixture's own) without their signal."""
    with sql.transaction():
        sql.execute("SET LOCAL session_replication_role = replica")
        sql.execute(
            "UPDATE login_families SET ended_at = now()"
            " WHERE user_id = %s AND user_agent IS NOT NULL",
            (user_id,),
        )


def test_head_answers_the_headers_and_takes_no_stream(
    make_api: Callable[..., Api], settings: Settings, user: User
) -> None:
    with make_api(dataclasses.replace(settings, events_per_user=2)) as api:

        async def scenario() -> None:
            limits = httpx.Limits(max_connections=1)  # every request on one connection
            async with httpx.AsyncClient(base_url=api.base, timeout=5, limits=limits) as client:
                for _ in range(5):  # more than the user's streams
                    head = await client.head(f"/api/{user.id}/events", headers=user.headers)
                    assert head.status_code == 200
                    assert head.headers["content-type"].startswith("text/event-stream")
                    assert head.content == b""
                assert api.app.ctx.hub.open_streams == 0
                me = await client.get(ME, headers=user.headers)  # the connection still works
                assert me.status_code == 200
                bad = await client.head(
                    f"/api/{user.id}/events", headers={**user.headers, "Last-Event-ID": "x"}
                )
                assert bad.status_code == 400
            async with (
                httpx.AsyncClient(base_url=api.base, timeout=30) as client,
                stream(client, user),
                stream(client, user),
            ):
                assert api.app.ctx.hub.open_streams == 2

        api.run(scenario())


# 3,000 changes of 2 KB, about 6.5 MB of events: a client that does not read blocks the stream
# after about 2.3 MB on this machine (its receive buffer, the server's socket and transport).
FILL = """
INSERT INTO tasks (user_id, list_id, title, description)
SELECT %(user_id)s, (SELECT id FROM lists WHERE user_id = %(user_id)s AND is_inbox),
       'Filler ' || i, repeat('x', 2000)
FROM generate_series(1, 3000) AS i
"""


async def stalled(api: Api, user: User, sql: psycopg.Connection[Any]) -> socket.socket:
    """A stream whose client never reads (a small receive buffer, full), sent a burst far
    larger than every buffer between them."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", api.port))
    head = f"GET /api/{user.id}/events HTTP/1.1\r\nHost: test\r\n{_authorization(user)}\r\n\r\n"
    await loop.sock_sendall(sock, head.encode())
    await _until(lambda: api.app.ctx.hub.open_streams == 1, 5)
    await asyncio.to_thread(sql.execute, FILL, {"user_id": user.id})
    await _until(_blocked_in_a_send, 10)
    return sock


def _blocked_in_a_send() -> bool:
    """Whether a stream waits in Sanic's send for its client to drain what was sent."""
    return any(
        "_deliver" in names and names[-3:-1] == ["send", "wait"] for names in _suspended_in()
    )


def _waiting_for_a_signal() -> bool:
    """Whether a stream, its reads done, waits for its user's next signal (on its queue)."""
    return any(names[-3:-1] == ["_deliver", "get"] for names in _suspended_in())


def _suspended_in() -> list[list[str]]:
    """For each task, the chain of coroutines it is suspended in, outermost first."""
    chains = []
    for task in asyncio.all_tasks():
        names, awaited = [], cast(Any, task.get_coro())
        while awaited is not None:
            code = getattr(awaited, "cr_code", None) or getattr(awaited, "gi_code", None)
            names.append(code.co_name if code else type(awaited).__name__)
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        chains.append(names)
    return chains


def _authorization(user: User) -> str:
    return f"Authorization: {user.headers['Authorization']}"


async def _until(condition: Callable[[], bool], within: float) -> float:
    """Seconds until `condition` held (polled every 10 ms); fails past `within`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, "not within the bound"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def drained(sock: socket.socket) -> bytes:
    """What the client can still read of the stream, to its end (a cut one included)."""
    loop, received = asyncio.get_running_loop(), bytearray()
    with contextlib.suppress(ConnectionResetError), sock:
        while not received.endswith(b"\r\n0\r\n\r\n"):  # the last chunk, on keep-alive
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 5)
            if not chunk:
                break
            received += chunk
    return bytes(received)


@pytest.mark.slow
def test_a_stream_blocked_on_a_client_that_does_not_read_ends_at_a_revocation(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    async def scenario() -> None:
        sock = await stalled(api, user, sql)
        response = await api.arequest("POST", LOGOUT_ALL, headers=user.headers)
        assert response.status_code == 204
        assert await _until(lambda: api.app.ctx.hub.open_streams == 0, 2) < 1
        alive = await survivor(api, user, {}, "logout-all")
        assert alive is not None
        await create_as(api, user, alive, "After the revocation")
        body = await drained(sock)
        assert b"After the revocation" not in body
        assert b"event: end" not in body, "the stream was not blocked: it could say why"

    api.run(scenario())


@pytest.mark.slow
def test_a_stream_blocked_on_a_client_that_does_not_read_ends_at_exp(
    api: Api, user: User, settings: Settings, sql: psycopg.Connection[Any]
) -> None:
    short = dataclasses.replace(settings, access_token_ttl=8)
    token = issue_access_token(short, user.id, user.session_id)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]

    async def scenario() -> None:
        sock = await stalled(api, dataclasses.replace(user, access_token=token), sql)
        assert time.time() < exp, "the machine was too slow to fill the stream before exp"
        await asyncio.sleep(exp - time.time())
        assert await _until(lambda: api.app.ctx.hub.open_streams == 0, 2) < 1
        body = await drained(sock)
        assert b"event: end" not in body, "the stream was not blocked: it could say why"

    api.run(scenario())


async def create_as(api: Api, user: User, pair: Pair, title: str) -> None:
    response = await api.arequest(
        "POST", f"/api/{user.id}/tasks", json={"title": title}, headers=bearer(pair)
    )
    assert response.status_code == 201, response.text


def test_a_revocation_between_the_streams_check_and_its_listening_ends_it(
    make_api: Callable[..., Api], settings: Settings, user: User, sql: psycopg.Connection[Any]
) -> None:
    """A fresh worker's first stream: its session checked, then revoked before the worker
    listens for signals (the revocation's signal reaches no one). The stream's first read,
    once it listens, ends it."""
    with make_api(settings) as api:
        hub = api.app.ctx.hub
        listen = hub.open

        async def revoked_first(user_id: str, session_id: str) -> Any:
            await asyncio.to_thread(
                sql.execute,
                "UPDATE login_families SET ended_at = now() WHERE id = %s",
                (session_id,),
            )
            return await listen(user_id, session_id)

        hub.open = revoked_first

        async def scenario() -> None:
            async with (
                httpx.AsyncClient(base_url=api.base, timeout=30) as client,
                stream(client, user) as listener,
            ):
                event = await ends(listener)
                assert event["data"] == {"reason": "session-ended"}

        api.run(scenario())


def test_a_database_failure_mid_stream_ends_it_with_reconnect(
    api: Api, user: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The client reconnects with Last-Event-ID (and meets the 503 while the failure lasts)."""
    queries = api.app.ctx.queries
    real = queries.stream_state

    async def failing(*args: Any, **kwargs: Any) -> Any:
        if failing.armed:  # type: ignore[attr-defined]
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        return await real(*args, **kwargs)

    failing.armed = False  # type: ignore[attr-defined]
    monkeypatch.setattr(queries, "stream_state", failing)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, user) as listener,
        ):
            failing.armed = True  # type: ignore[attr-defined]
            await create(client, user, "Unread")
            event = await ends(listener)
            assert event["data"] == {"reason": "reconnect"}

    api.run(scenario())
    assert "event stream ended: ConnectionDoesNotExistError" in caplog.text


def test_a_revocation_signalled_while_the_stream_reads_is_read_again_before_sending(
    api: Api, user: User, sql: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read that a reminder waits on saw the session live, but the session ended (and its
    signal came) while that read was under way: nothing goes out before a second read."""
    queries, hub = api.app.ctx.queries, api.app.ctx.hub
    real = queries.stream_state
    session = log_in(api, user)

    async def revoked_meanwhile(*args: Any, **kwargs: Any) -> Any:
        state = await real(*args, **kwargs)
        if revoked_meanwhile.armed:  # type: ignore[attr-defined]
            revoked_meanwhile.armed = False  # type: ignore[attr-defined]
            await asyncio.to_thread(_end_silently, sql, user.id)
            for open_stream in hub.streams.get(user.id, ()):
                open_stream.ring()  # as the revocation's signal would
        return state

    revoked_meanwhile.armed = False  # type: ignore[attr-defined]
    monkeypatch.setattr(queries, "stream_state", revoked_meanwhile)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, holder(user, session)) as listener,
        ):
            revoked_meanwhile.armed = True  # type: ignore[attr-defined]
            await publish_reminder(sql, user.id, "Late")
            event = await ends(listener)
            assert event["data"] == {"reason": "session-ended"}

    api.run(scenario())
