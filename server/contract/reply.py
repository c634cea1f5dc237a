"""What a handler returns: a body object, a status and headers; encoding happens later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sanic import HTTPResponse

JSON = "application/json"


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = JSON

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
        return HTTPResponse(data, self.status, dict(self.headers), content_type=content_type)


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
            await response.eof()
        finally:
            await self.close()


async def _nothing() -> None:
    return None
