"""What a handler returns: a body object, a status and headers; encoding happens later."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from sanic import HTTPResponse
from sanic.exceptions import RequestCancelled
from sanic.helpers import has_message_body
from sanic.http import Stage

from server.contract.pace import Pace

log = logging.getLogger("todo_api")
Allowed = Callable[[], Awaitable[bool]]  # whether the access an answer was read under holds
JSON = "application/json"
FINISH_SECONDS = 0.25  # a stream's end waits this long for a client that does not read
# A large body is sent a part at a time; a client that takes less than a PART of it in
# PART_SECONDS (some 26 KB/s) is cut off: a body stays in memory until it is sent.
PART = 256 * 1024
PART_SECONDS = 10
# While a large body is sent, the access it was read under is asked again this often (the
# first time with its first part): a session, an account or a feed ended meanwhile cuts it off.
RECHECK_SECONDS = 2
UNSAFE_IN_HEADERS = str.maketrans("", "", "\r\n\x00")  # what Sanic strips from every header


def _header_safe(text: str) -> str:
    if "\r" in text or "\n" in text or "\x00" in text:
        return text.translate(UNSAFE_IN_HEADERS)
    return text


def _encoded(header: tuple[str, Any]) -> tuple[bytes, bytes]:
    name, value = header
    return _header_safe(name).encode("ascii"), _header_safe(str(value)).encode(
        errors="surrogateescape"
    )


class ApiResponse(HTTPResponse):
    """Sanic's HTTPResponse, with its headers made safe to send as Sanic does (CR, LF and NUL
    removed) at a fraction of the cost: Sanic runs str.translate on every name and value of
    every response, a dozen per answer with the security headers. This one encodes the headers
    answers commonly carry (`encode_once`) once per process, and for the others only looks for
    the three characters, translating when one is there.

    Headers every answer carries unless it names them itself (`add_by_default`: the security
    headers) stay out of its header dict and go out as encoded once per process: setting seven
    names on every answer's case-insensitive dict and looking each up again to send it cost
    about 3% of a GET's CPU."""

    __slots__ = ()
    _known: ClassVar[dict[tuple[str, str], tuple[bytes, bytes]]] = {}
    _defaults: ClassVar[dict[str, tuple[bytes, bytes]]] = {}  # lower-case name -> encoded

    @classmethod
    def encode_once(cls, headers: Iterable[tuple[str, str]]) -> None:
        cls._known.update((item, _encoded(item)) for item in headers)

    @classmethod
    def add_by_default(cls, headers: Mapping[str, str]) -> None:
        for name, value in headers.items():
            cls._defaults[name.lower()] = _encoded((name, value))

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        if has_message_body(self.status):
            self.headers.setdefault("content-type", self.content_type)
        known = self._known
        encoded = [known.get(item) or _encoded(item) for item in self.headers.items()]
        own = {name.lower() for name in self.headers}
        encoded.extend(pair for name, pair in self._defaults.items() if name not in own)
        return iter(encoded)


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = JSON
    cookies: tuple[str, ...] = ()  # Set-Cookie values, each its own header
    # What a large body asks as it is sent (send_in_parts); None: the caller's session, on a
    # secured operation (the pipeline)
    allowed: Allowed | None = None

    def encode(self) -> bytes | None:
        if self.body is None:
            return None
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return orjson.dumps(self.body, option=orjson.OPT_UTC_Z)

    def response(self, data: bytes | None) -> HTTPResponse:
        """The HTTP response carrying `data`, this reply's body as encoded (and checked)."""
        content_type: Any = self.content_type if data is not None else None
        response = ApiResponse(data, self.status, dict(self.headers), content_type=content_type)
        for cookie in self.cookies:
            response.headers.add("set-cookie", cookie)
        return response

    async def send_in_parts(self, request: Any, data: bytes, allowed: Allowed | None) -> None:
        """Send `data`, this reply's body as encoded (and checked), a PART at a time as the
        client takes it (with its Content-Length, as ever), and cut the client off once it
        took less than a PART in PART_SECONDS (server/contract/pace.py), or once `allowed`
        (asked every RECHECK_SECONDS) says the access it was read under has ended. nginx,
        whose buffering is off for the event streams, takes it at once and serves a slow
        client itself (X-Accel-Buffering, which it does not pass on)."""
        head = self.response(b"")
        head.headers["content-length"] = str(len(data))
        head.headers["x-accel-buffering"] = "yes"  # nginx in front takes it at once, buffered
        response = await request.respond(head)
        clock = asyncio.get_running_loop().time
        pace = request.ctx.pace = Pace(request.transport, PART, PART_SECONDS, clock)
        held = Held(allowed, RECHECK_SECONDS, clock)
        try:
            for start in range(0, len(data), PART):
                part = data[start : start + PART]
                await _paced(response.send(part), pace, held)
                pace.wrote(len(part))
            await _paced(response.eof(), pace, held)
        except (TimeoutError, AccessEnded):  # the body is held no longer: as if it had left
            _given_up(request)
            raise RequestCancelled() from None
        except BaseException:  # the client is gone (or the send failed)
            _given_up(request)
            raise


def _given_up(request: Any) -> None:
    """The connection closed, and nothing more to answer on it: without the stage, a client
    gone before the first part made Sanic answer its error on the head already given (the
    Content-Length of the whole body), and log that with its traceback."""
    request.transport.abort()
    request.stream.stage = Stage.FAILED


async def _paced(sending: Awaitable[None], pace: Pace, held: Held) -> None:
    """Await `sending`, looking at the client's pace and the answer's access while it waits
    (TimeoutError: too slow; AccessEnded)."""
    sent = asyncio.ensure_future(sending)
    try:
        await held.check()
        while not (await asyncio.wait((sent,), timeout=min(1.0, PART_SECONDS / 4)))[0]:
            if pace.too_slow():
                raise TimeoutError
            await held.check()
        sent.result()
    finally:
        sent.cancel()  # still waiting: too slow, the access ended, or the request is gone


class AccessEnded(Exception):
    """The session, account or feed a large answer was read under ended while it was sent."""


class Held:
    """Whether an answer's access still holds, asked of `allowed` at most once per `seconds`
    (the first time at once). A check that fails (PostgreSQL unreachable) ends it too: what
    cannot be confirmed is not sent on."""

    def __init__(self, allowed: Allowed | None, seconds: float, clock: Callable[[], float]):
        self.allowed, self.seconds, self.clock = allowed, seconds, clock
        self._at = -math.inf

    async def check(self) -> None:
        if self.allowed is None or self.clock() - self._at < self.seconds:
            return
        self._at = self.clock()
        try:
            holds = await self.allowed()
        except Exception as exc:  # logged; the answer is cut off, unconfirmed
            log.warning("a large answer's access could not be checked; cut off: %r", exc)
            holds = False
        if not holds:
            raise AccessEnded


@dataclass
class Streamed(Reply):
    """A 200 text/event-stream whose body `send` writes to the open response as it goes (the
    status and headers are sent first; the body is not checked against the contract)."""

    send: Callable[[Any], Awaitable[None]] = field(default=lambda response: _nothing())
    close: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())  # however it ends
    content_type: str = "text/event-stream"

    async def stream(self, request: Any) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **self.headers}
        try:
            response = await request.respond(headers=headers, content_type=self.content_type)
            await self.send(response)
            try:
                async with asyncio.timeout(FINISH_SECONDS):
                    await response.eof()
            except TimeoutError:  # the client stopped reading: it holds nothing of ours
                request.transport.abort()
        finally:
            await self.close()


async def _nothing() -> None:
    return None
