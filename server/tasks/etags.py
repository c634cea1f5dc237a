"""A task's entity tag is its version, strong and quoted: `"3"`. Reading If-Match and
If-None-Match (RFC 9110 §13.1): `*`, or a comma-separated list of entity tags."""

from __future__ import annotations

import re
from typing import Any

from server.contract.reply import Reply
from server.errors import BadRequest, NotFound, PreconditionFailed

# One element of a list: an entity tag or nothing (RFC 9110 §5.6.1 lets lists have empty
# elements), then a comma or the end. Linear: the whitespace after a tag is inside the tag's
# group, so no two adjacent runs of whitespace can trade characters (a retry costs O(1)).
LIST_ELEMENT = re.compile(r'\s*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*)?(?:,|$)')
MAX_VERSION = 2**31 - 1  # the column is an integer


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
        raise PreconditionFailed()
    return row


def if_match_versions(header: str | None) -> list[int] | None:
    """The versions an If-Match allows; None when any version will do (absent, or `*`).

    If-Match compares strongly, so a weak tag (`W/"3"`) never matches; a tag that is not
    one of ours matches nothing. Both leave the list without it, so a stale or foreign
    precondition fails with 412 rather than being ignored.
    """
    if header is None or header.strip() == "*":
        return None
    return [version for weak, version in _tags(header, "If-Match") if not weak and version]


def if_none_match_hits(header: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (weak comparison) or is `*`."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(tag_version == version for _weak, tag_version in _tags(header, "If-None-Match"))


def _tags(header: str, name: str) -> list[tuple[bool, int]]:
    """(weak, version) for each entity tag; version 0 for a tag that is not a version of ours."""
    found: list[tuple[bool, int]] = []
    position = 0
    while position < len(header):
        match = LIST_ELEMENT.match(header, position)
        if match is None:
            raise _malformed(name)
        if match.group(2) is not None:
            found.append((match.group(1) is not None, _version(match.group(2))))
        position = match.end()
    if not found:
        raise _malformed(name)
    return found


def _malformed(name: str) -> BadRequest:
    return BadRequest.at(
        ["header", name],
        "malformed entity tag list",
        "value_error",
        f'{name} must be `*` or a list of quoted entity tags such as "3".',
    )


def _version(opaque: str) -> int:
    if opaque.isascii() and opaque.isdigit() and len(opaque) <= 10:
        version = int(opaque)
        if 1 <= version <= MAX_VERSION:
            return version
    return 0
