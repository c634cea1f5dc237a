"""What a handler returns: a body object, a status and headers; encoding happens later."""

from __future__ import annotations

from collections.abc import Mapping
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
