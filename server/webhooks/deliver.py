"""One attempt at a delivery: the body POSTed to the webhook's URL, signed, within
TIMEOUT_SECONDS for the whole exchange. 2xx is delivered; anything else (another status, a
redirect, which is never followed, no answer in time, a refused connection, an address that is
not public in production) is an attempt to retry. Of the answer only the status and the first
EXCERPT_BYTES of its body are read and kept; the rest is never read."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from server.http.egress import PrivateAddress, egress_session
from server.webhooks.signing import signed_headers

TIMEOUT_SECONDS = 10.0
EXCERPT_BYTES = 200
USER_AGENT = "todo-api-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None  # the receiver's status code; None without an answer
    note: str  # an excerpt of the answer's body, or why there was none


class WebhookPoster:
    """POSTs deliveries on one session (connections reused within a round, closed after)."""

    def __init__(self, *, public_only: bool, timeout: float = TIMEOUT_SECONDS) -> None:
        self.public_only, self.timeout = public_only, timeout
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, secret: str, payload: Mapping[str, Any]) -> Outcome:
        if self.public_only and urlsplit(url).scheme != "https":
            return Outcome(False, None, "production sends to https URLs only")
        body = payload["body"].encode()
        headers = signed_headers(secret, payload["message_id"], int(time.time()), body)
        headers |= {"content-type": "application/json", "user-agent": USER_AGENT}
        if self._session is None:
            self._session = egress_session(self.public_only)
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as answer:
                excerpt = await answer.content.read(EXCERPT_BYTES)
                return Outcome(200 <= answer.status < 300, answer.status, _text(excerpt))
        except PrivateAddress as exc:
            return Outcome(False, None, _text(str(exc)))
        except TimeoutError:
            return Outcome(False, None, f"no answer within {self.timeout:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Outcome(False, None, _text(f"{type(exc).__name__}: {exc}"))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _text(raw: bytes | str) -> str:
    """What a receiver said, as text PostgreSQL keeps: invalid UTF-8 replaced, NULs dropped (a
    NUL in text is an error there, and the delivery would be sent again and again)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.replace("\x00", "")[:EXCERPT_BYTES]
