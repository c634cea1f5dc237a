"""Entity tags and the requests that name them (RFC 9110 §8.8.3, §13.1): If-Match and
If-None-Match, each `*` or a comma-separated list of entity tags.

A versioned resource (a task, a list) is tagged by its version, strong and quoted: `"3"`;
If-Match makes a write conditional on it, If-None-Match a read (304). A page (the tasks, lists
and trash pages, /stats) is tagged weakly by a digest of exactly what was answered, so its tag
changes whenever its content does (an overdue count that grows with the clock included):
If-None-Match naming it gives 304."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import orjson

from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import BadRequest, NotFound, PreconditionFailed

# One element of a list: an entity tag or nothing (RFC 9110 §5.6.1 lets lists have empty
# elements), then a comma or the end. Linear: the whitespace after a tag is inside the tag's
# group, so no two adjacent runs of whitespace can trade characters (a retry costs O(1)).
LIST_ELEMENT = re.compile(r'\s*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*)?(?:,|$)')
MAX_VERSION = 2**31 - 1  # the column is an integer


class Malformed(Exception):
    """A header that is neither `*` nor a list of entity tags."""


def etag(version: int) -> str:
    return f'"{version}"'


def versioned_reply(body: dict[str, Any], version: int, if_none_match: str | None) -> Reply:
    """A read of one versioned resource (a task, a list): 200 with its ETag, or 304 when
    If-None-Match already names that version."""
    headers = {"ETag": etag(version)}
    if if_none_match_hits(if_none_match, version):
        return Reply(status=304, headers=headers)
    return Reply(body, headers=headers)


def current(row: Any, versions: list[int] | None, missing: str) -> Any:
    """The row read for a write under If-Match: 404 when there is none, 412 when it is not
    at one of `versions` (None: any version will do)."""
    if row is None:
        raise NotFound(missing)
    if versions is not None and row["version"] not in versions:
        raise PreconditionFailed(etag(row["version"]))
    return row


def if_match_versions(header: str | None) -> list[int] | None:
    """The versions an If-Match allows; None when any version will do (absent, or `*`).

    If-Match compares strongly, so a weak tag (`W/"3"`) never matches; a tag that is not
    one of ours matches nothing. Both leave the list without it, so a stale or foreign
    precondition fails with 412 rather than being ignored.
    """
    if header is None or header.strip() == "*":
        return None
    return [version for weak, version in _versions(header, "If-Match") if not weak and version]


def if_none_match_hits(header: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (weak comparison) or is `*`."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(tag_version == version for _weak, tag_version in _versions(header, "If-None-Match"))


def weak_etag(body: Any) -> str:
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_UTC_Z)).hexdigest()[:20]
    return f'W/"{digest}"'


def conditional(request: Request, body: Any) -> Reply:
    """A page: 200 with the body and its weak ETag, or 304 when If-None-Match names that tag
    (weak comparison: any listed tag, weak or not, with the same opaque part, or `*`). A
    malformed If-None-Match names nothing here: the page is answered."""
    tag = weak_etag(body)
    headers = {"ETag": tag}
    header = request.headers.get("If-None-Match")
    if header is not None and (header.strip() == "*" or _names(header, tag[3:-1])):
        return Reply(status=304, headers=headers)
    return Reply(body, headers=headers)


def _names(header: str, opaque: str) -> bool:
    """Whether a tag of the list, up to a malformed element, has this opaque part."""
    try:
        return any(found == opaque for _weak, found in entity_tags(header))
    except Malformed:
        return False


def entity_tags(header: str) -> Iterator[tuple[bool, str]]:
    """(weak, opaque part) of each entity tag of a list, in order; Malformed at the first
    element that is no entity tag."""
    position = 0
    while position < len(header):
        match = LIST_ELEMENT.match(header, position)
        if match is None:
            raise Malformed(header)
        if match.group(2) is not None:
            yield match.group(1) is not None, match.group(2)
        position = match.end()


def _versions(header: str, name: str) -> list[tuple[bool, int]]:
    """(weak, version) for each entity tag; version 0 for a tag that is not a version of ours."""
    try:
        found = [(weak, _version(opaque)) for weak, opaque in entity_tags(header)]
    except Malformed:
        found = []
    if not found:
        raise BadRequest.at(
            ["header", name],
            "malformed entity tag list",
            "value_error",
            f'{name} must be `*` or a list of quoted entity tags such as "3".',
        )
    return found


def _version(opaque: str) -> int:
    if opaque.isascii() and opaque.isdigit() and len(opaque) <= 10:
        version = int(opaque)
        if 1 <= version <= MAX_VERSION:
            return version
    return 0
