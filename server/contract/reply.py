"""What a handler returns: a body object, a status and headers; encoding happens later."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from sanic import HTTPResponse
from sanic.helpers import has_message_body

from server.errors import ApiError

# Asked while a large answer is sent (server/contract/parts.py): returns while the access it
# was read under holds, raises AccessEnded once it has not, anything else when it cannot tell.
Allowed = Callable[[], Awaitable[None]]
JSON = "application/json"
FINISH_SECONDS = 0.25  # a stream's end waits this long for a client that does not read


class AccessEnded(Exception):
    """The session, account, feed or membership an answer was read under has ended: `refusal`
    is what a request would now be answered; None, where the answer was read under it and a
    request now gets another answer of the same (a page without a list no longer shared): the
    answer is not refused before its head, only cut off while it is sent."""

    def __init__(self, refusal: ApiError | None, why: str = "") -> None:
        super().__init__(why if refusal is None else refusal.detail)
        self.refusal = refusal


UNSAFE_IN_HEADERS = str.maketrans("", "", "\r\n\x00")  # what Sanic strips from every header


def _header_safe(text: str) -> str:
    if "\r" in text or "\n" in text or "\x00" in text:
        return text.translate(UNSAFE_IN_HEADERS)
    return text


def _encoded(header: tuple[str, Any]) -> tuple[bytes, bytes]:
    name, value = header
    if type(value) is not str:  # a Content-Length
        value = str(value)
    return _header_safe(name).encode("ascii"), _header_safe(value).encode(errors="surrogateescape")


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
        headers, known = self.headers, self._known
        encoded = [known.get(item) or _encoded(item) for item in headers.items()]
        for name, pair in self._defaults.items():
            if name not in headers:  # (a case-insensitive look-up)
                encoded.append(pair)
        return iter(encoded)


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = JSON
    cookies: tuple[str, ...] = ()  # Set-Cookie values, each its own header
    # What a large body asks as it is sent, besides the caller's session on a secured operation
    # (the pipeline)
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
