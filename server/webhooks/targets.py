"""Where a webhook may send (SPEC §13): an absolute http(s) URL without credentials; in
production https only, at a host that resolves, now, to public addresses only (refused, 422,
when registered; each delivery checks the addresses again, server/http/egress.py). Development
takes any address, so the tests and `make run` use a receiver on loopback."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from server.config import Settings
from server.errors import UnprocessableContent
from server.http.egress import resolves_public

RESOLVE_SECONDS = 5.0


async def check_url(settings: Settings, url: str) -> None:
    loc = ["body", "url"]
    schemes = ("https",) if settings.production else ("https", "http")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # a port out of range: ValueError
    except ValueError:  # "https://[::1": an unclosed IPv6 literal
        host = port = None
    if not host or parts.scheme not in schemes or parts.username or parts.password:
        raise UnprocessableContent.at(
            loc, f"must be an absolute {' or '.join(schemes)} URL without credentials", "format"
        )
    if not settings.production:
        return
    try:
        public = await asyncio.wait_for(resolves_public(host, port or 443), RESOLVE_SECONDS)
    except TimeoutError:
        public = False
    if not public:
        raise UnprocessableContent.at(
            loc, "must name a host that resolves to public addresses only", "format"
        )
