"""Paging tokens: opaque keyset cursors, base64url of the last row's sort key and id, with an HMAC
that binds them to what the listing says they belong to (the user, the sort, the order and the
filters of the tasks page; the user and the window of the reminders; the user of the trash).
Anything else a client sends as a cursor (garbled, tampered with, another user's, another
listing's) is a 400, never a 500; and so is a cursor sent with an offset."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Any, NoReturn

import orjson

from server.errors import BadRequest

MAC_BYTES = 16
KEY_LABEL = b"todo-api/task-cursor/v1"


def encode_cursor(secret: str, context: bytes, key: Any, last_id: str) -> str:
    """The cursor after the row whose sort key is `key` (JSON-ready) and whose id is last_id."""
    payload = orjson.dumps([key, last_id])
    return _encode(payload + _mac(secret, context, payload))


def decode_cursor(secret: str, context: bytes, cursor: str) -> tuple[Any, str]:
    """(sort key, id) from a cursor this service issued for this very listing."""
    try:
        raw = cursor.encode("ascii")
        token = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise invalid_cursor() from None
    if _encode(token) != cursor:  # one spelling per cursor: no stray, padding or unused bits
        raise invalid_cursor()
    payload, mac = token[:-MAC_BYTES], token[-MAC_BYTES:]
    if len(token) <= MAC_BYTES or not hmac.compare_digest(mac, _mac(secret, context, payload)):
        raise invalid_cursor()
    try:
        key, last_id = orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        raise invalid_cursor() from None
    if not isinstance(last_id, str):
        raise invalid_cursor()
    return key, last_id


def invalid_cursor(detail: str = "The cursor is not one this listing issued.") -> BadRequest:
    return BadRequest.at(["query", "cursor"], "invalid cursor", "value_error", detail)


def both_offset_and_cursor() -> NoReturn:
    raise BadRequest.at(
        ["query", "cursor"],
        "cannot be combined with offset",
        "value_error",
        "Send either offset or cursor, not both.",
    )


def cursor_instant(value: Any) -> datetime:
    """An instant a cursor carried (its MAC vouches for it); a 400 when it is no instant."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid_cursor() from None


def _encode(token: bytes) -> str:
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def _mac(secret: str, context: bytes, payload: bytes) -> bytes:
    key = hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, context + b"\n" + payload, hashlib.sha256).digest()[:MAC_BYTES]
