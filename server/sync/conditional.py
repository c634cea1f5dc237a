"""Conditional reads of pages (SPEC §7): the tasks page, the lists page, the trash page and
/stats carry a weak ETag, a digest of exactly what was answered, so it changes whenever the
content does (an overdue count that grows with the clock included); If-None-Match naming it
gives 304."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from server.contract.reply import Reply
from server.tasks.etags import LIST_ELEMENT


def weak_etag(body: Any) -> str:
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_UTC_Z)).hexdigest()[:20]
    return f'W/"{digest}"'


def conditional(request: Any, body: Any) -> Reply:
    """200 with the body and its weak ETag, or 304 when If-None-Match names that tag (any
    request of the service: the lists handlers still take sanic's own)."""
    tag = weak_etag(body)
    headers = {"ETag": tag}
    if _names(request.headers.get("If-None-Match"), tag[2:]):
        return Reply(status=304, headers=headers)
    return Reply(body, headers=headers)


def _names(header: str | None, opaque: str) -> bool:
    """Weak comparison: any listed tag (weak or not) with the same opaque part, or `*`."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    position = 0
    while position < len(header):
        match = LIST_ELEMENT.match(header, position)
        if match is None:
            return False
        if match.group(2) is not None and f'"{match.group(2)}"' == opaque:
            return True
        position = match.end()
    return False
