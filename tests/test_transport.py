"""The connection layer (server/system/transport.py) over real sockets: slow clients are cut
off by the whole request's time, not per byte; a client's connections are capped; a head is
read as RFC 9112 says. An app of its own runs it with short limits (1 s for a head, 2 s for a
body, CAP connections per client), so every wait here is bounded by BOUND, far below Sanic's
own 60 s timer that starts again on every byte; the last tests run `todo-api serve` itself."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest

from server.config import DIRECT_CLIENT_CONNECTION_LIMIT, Settings
from tests.live import serve_fresh
from tests.support import Api, metric_value

CAP = 8
BOUND = 20.0  # seconds: a connection still open this long was never going to be closed
DRIP = 0.2  # seconds between the pieces a slow client sends, well inside the limits
GET = b"GET /health HTTP/1.1\r\nHost: x\r\n"
POST = b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
BODY = b'{"email": "a@example.org", "password": "correct horse battery"}'
LENGTH = str(len(BODY)).encode()
REFUSED = "todo_connections_refused_total"
CLOSE = b"Connection: close\r\n\r\n"


@pytest.fixture(scope="module")
def guarded(settings: Settings, make_api: Any) -> Iterator[Api]:
    limits = dataclasses.replace(
        settings, request_head_timeout=1, request_body_timeout=2, client_connection_limit=CAP
    )
    with make_api(limits) as api:
        yield api


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int) -> Streams:
    return await asyncio.open_connection("127.0.0.1", port)


async def drip(port: int, first: bytes, piece: bytes | None) -> tuple[bytes, float]:
    """On a new connection, send `first`, then `piece` every DRIP seconds while the server
    says nothing: what it answered before closing, and how long the connection lived."""
    reader, writer = await connect(port)
    started = time.monotonic()
    got = b""
    try:
        writer.write(first)
        while time.monotonic() - started < BOUND:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), DRIP)
            except TimeoutError:
                if piece is not None:
                    writer.write(piece)
                continue
            if not chunk:
                break
            got += chunk
    except ConnectionError:
        pass
    finally:
        writer.close()
    return got, time.monotonic() - started


async def exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a new connection and read until the server closes it."""
    reader, writer = await connect(port)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), BOUND)
    except ConnectionError:
        return b""
    finally:
        writer.close()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def test_a_head_sent_a_line_every_moment_is_cut_off_with_408(guarded: Api) -> None:
    answer, lived = guarded.run(drip(guarded.port, GET, b"X-Slow: 1\r\n"))
    assert lived < BOUND, "the slow head was never cut off"
    assert status(answer) == 408
    assert b"connection: close" in answer.lower()
    assert b"application/problem+json" in answer


def test_a_request_line_sent_a_byte_every_moment_is_cut_off_with_408(guarded: Api) -> None:
    answer, lived = guarded.run(drip(guarded.port, b"G", b"E"))
    assert lived < BOUND
    assert status(answer) == 408


def test_a_connection_that_never_speaks_is_closed(guarded: Api) -> None:
    answer, lived = guarded.run(drip(guarded.port, b"", None))
    assert lived < BOUND
    assert answer == b""  # nothing was asked, nothing is answered


def test_a_body_sent_a_byte_every_moment_is_cut_off_with_408(guarded: Api) -> None:
    head = POST + b"Content-Length: 1000\r\n\r\n{"
    answer, lived = guarded.run(drip(guarded.port, head, b" "))
    assert lived < BOUND
    assert status(answer) == 408
    assert b"application/problem+json" in answer


def test_the_head_limit_is_per_request_on_a_kept_alive_connection(guarded: Api) -> None:
    """Requests spread over more than the head limit, each one prompt: all answered."""

    async def three_requests() -> list[int]:
        reader, writer = await connect(guarded.port)
        statuses = []
        started = time.monotonic()
        try:
            for _ in range(3):
                writer.write(GET + b"\r\n")
                statuses.append(status(await reader.readuntil(b"\r\n\r\n")))
                await reader.readexactly(len(b'{"status":"ok"}'))
                await asyncio.sleep(0.6)
        finally:
            writer.close()
        assert time.monotonic() - started > 1.5
        return statuses

    assert guarded.run(three_requests()) == [200, 200, 200]


def test_a_later_head_sent_a_line_every_moment_is_cut_off_too(guarded: Api) -> None:
    """On a kept-alive connection each head has the limit from its own first byte."""

    async def prompt_then_slow() -> tuple[int, bytes, float]:
        reader, writer = await connect(guarded.port)
        try:
            writer.write(GET + b"\r\n")
            first = status(await reader.readuntil(b"\r\n\r\n"))
            await reader.readexactly(len(b'{"status":"ok"}'))
            started, answer = time.monotonic(), b""
            writer.write(GET)
            while time.monotonic() - started < BOUND:
                try:
                    answer = await asyncio.wait_for(reader.read(65536), DRIP)
                    break
                except TimeoutError:
                    writer.write(b"X-Slow: 1\r\n")
            return first, answer, time.monotonic() - started
        finally:
            writer.close()

    first, answer, lived = guarded.run(prompt_then_slow())
    assert first == 200
    assert lived < BOUND
    assert status(answer) == 408


def test_a_client_past_its_connection_cap_is_closed_as_it_arrives(guarded: Api) -> None:
    async def scenario() -> tuple[bytes, float, bytes]:
        held = [await connect(guarded.port) for _ in range(CAP)]
        for reader, writer in held:  # each answered, so each is counted
            writer.write(GET + b"\r\n")
            assert status(await reader.readuntil(b"\r\n\r\n")) == 200
        refused, lived = await drip(guarded.port, b"", None)
        for _, writer in held:
            writer.close()
            await writer.wait_closed()
        # Closed, they stop counting once the server has read their close: wait for that.
        deadline = time.monotonic() + BOUND
        answer = b""
        while status(answer) != 200 and time.monotonic() < deadline:
            answer = await exchange(guarded.port, GET + CLOSE)
        return refused, lived, answer

    before = refused_so_far(guarded)
    refused, lived, later = guarded.run(scenario())
    assert refused == b""
    assert lived < 1.0  # closed at once, not by the 1 s head limit
    assert status(later) == 200
    assert refused_so_far(guarded) == before + 1


def refused_so_far(api: Api) -> float:
    """todo_connections_refused_total, asked on a connection of its own that then closes (the
    test client's pool would keep one open, and count against the cap)."""
    answer = api.run(exchange(api.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + CLOSE))
    return metric_value(answer.partition(b"\r\n\r\n")[2].decode(), REFUSED)


def test_the_connection_cap_is_off_behind_a_proxy_unless_set() -> None:
    """Behind a proxy every connection's peer is the proxy (and the client a slow head would
    name in X-Forwarded-For is never read): capping the peer would cap everyone."""
    assert Settings(jwt_secret="x").client_connections == DIRECT_CLIENT_CONNECTION_LIMIT
    assert Settings(jwt_secret="x", proxies_count=1).client_connections == 0
    behind_set = Settings(jwt_secret="x", proxies_count=1, client_connection_limit=500)
    assert behind_set.client_connections == 500
    assert Settings(jwt_secret="x", client_connection_limit=0).client_connections == 0


ARABIC_THREE = "\u0663".encode()
ARABIC_LENGTH = "".join(chr(0x660 + int(d)) for d in LENGTH.decode()).encode()  # int() reads it


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(POST + b"Content-Length : " + LENGTH + b"\r\n\r\n" + BODY, id="space-colon"),
        pytest.param(GET + b"X-A: a\x00b\r\n\r\n", id="nul"),
        pytest.param(GET + b"X-A: a\x01b\r\n\r\n", id="control"),
        pytest.param(GET + b"X-A: a\x7fb\r\n\r\n", id="del"),
        pytest.param(GET + b"X-A: a\nContent-Length: 5\r\n\r\n", id="bare-lf"),
        pytest.param(GET + b"X-A: a\rb\r\n\r\n", id="bare-cr"),
        pytest.param(GET + b"X-A: a\rb\nc\r\n\r\n", id="bare-cr-then-lf"),
        pytest.param(GET + b"X-A: a\r\n b: c\r\n\r\n", id="obs-fold"),
        pytest.param(GET + b"X A: b\r\n\r\n", id="space-in-name"),
        pytest.param(GET + b": b\r\n\r\n", id="empty-name"),
        pytest.param(
            POST + b"Content-Length: " + ARABIC_LENGTH + b"\r\n\r\n" + BODY, id="length-digits"
        ),
        pytest.param(POST + b"Content-Length: 1_9\r\n\r\n" + BODY, id="length-underscore"),
        pytest.param(
            POST + b"Transfer-Encoding: chunked\r\n\r\n" + ARABIC_THREE + b"\r\nabc\r\n0\r\n\r\n",
            id="chunk-digits",
        ),
        pytest.param(b"GET /health HTTP/1.1\r\n\r\n", id="no-host"),
        pytest.param(GET + b"Host: y\r\n\r\n", id="two-hosts"),
        pytest.param(
            POST + b"Content-Length: " + LENGTH + b"\r\nContent-Length: " + LENGTH + b"\r\n\r\n",
            id="two-lengths",
        ),
        pytest.param(
            POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            id="chunked-and-length",
        ),
    ],
)
def test_a_malformed_head_is_400_and_the_connection_closed(guarded: Api, head: bytes) -> None:
    answer = guarded.run(exchange(guarded.port, head))  # read to the close: it is closed
    assert status(answer) == 400, answer
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing smuggled in behind it was answered


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(GET + b"X-A: a\tb\r\n", id="tab"),
        pytest.param(GET + b"X-A: caf\xe9\r\n", id="obs-text"),
        pytest.param(GET + b"X-A:b  \r\n", id="no-space-after-colon"),
        pytest.param(b"GET /health HTTP/1.0\r\n", id="http-1.0-without-host"),
    ],
)
def test_a_well_formed_head_is_answered(guarded: Api, head: bytes) -> None:
    answer = guarded.run(exchange(guarded.port, head + CLOSE))
    assert status(answer) == 200, answer


@pytest.mark.slow
def test_todo_api_serve_runs_the_connection_layer_and_stops_with_no_task_pending(
    admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`todo-api serve` cuts a slow head off; and every background task of its worker is ended
    and awaited as it stops (the metrics sampler was dropped pending: "Task was destroyed but
    it is pending!" on every stop)."""
    env = {"REQUEST_HEAD_TIMEOUT": "1"}
    with serve_fresh(admin_dsn, tmp_path_factory, "todo_transport", env=env) as server:
        answer, lived = asyncio.run(drip(server.port, GET, b"X-Slow: 1\r\n"))
        assert status(answer) == 408
        assert lived < BOUND
        refused = asyncio.run(exchange(server.port, GET + b"X-A: a\x00b\r\n\r\n"))
        assert status(refused) == 400
    log = server.log_path.read_text()
    assert "Server Stopped" in log
    assert "destroyed but it is pending" not in log
    assert "was cancelled before it completed" not in log
    assert server.log_summary().errors == []
