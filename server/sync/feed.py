"""The change feed: GET /changes, and the since tokens it (and the event stream) hands out.

A token is base64url of (mode, position, end) with an HMAC binding it to the user. An
incremental token means "every change after revision `position`". A full sync pages the objects
live at its start (revision <= `end`, read first) by revision; when they run out its next token
is the incremental one at `end`, so whatever committed while it paged follows (SPEC §7)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import struct
from collections.abc import Callable
from typing import Any, NoReturn

from server.comments.body import comment_body
from server.contract.context import Request
from server.db.executor import Executor, Row
from server.db.queries import Queries
from server.errors import ApiError, BadRequest
from server.lists.fields import list_body
from server.tasks.fields import task_body

MAC_BYTES = 16
TOKEN = struct.Struct(">BQQ")  # mode (0 incremental, 1 full sync), position, end
KEY_LABEL = b"todo-api/since/v1"


# The data of an upsert, by kind: the contract's Task, List or Comment.
BODIES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "task": task_body,
    "list": list_body,
    "comment": comment_body,
}


class SyncExpired(ApiError):
    status, slug = 410, "sync-expired"
    default_detail = "This since is older than the change history kept: do a full sync."


def encode(secret: str, user_id: str, position: int, end: int | None = None) -> str:
    payload = TOKEN.pack(0 if end is None else 1, position, end or 0)
    token = payload + _mac(secret, user_id, payload)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def decode(secret: str, user_id: str, since: str, loc: list[Any]) -> tuple[int, int | None]:
    """(position, end or None) of a token this service gave this user; else 400 at loc."""
    try:
        raw = since.encode("ascii")
        token = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        invalid(loc)
    payload, mac = token[: TOKEN.size], token[TOKEN.size :]
    if len(token) != TOKEN.size + MAC_BYTES or not hmac.compare_digest(
        mac, _mac(secret, user_id, payload)
    ):
        invalid(loc)
    mode, position, end = TOKEN.unpack(payload)
    if mode > 1:
        invalid(loc)
    return position, end if mode else None


async def read_changes(
    request: Request, since: str | None, limit: int, loc: list[Any]
) -> dict[str, Any]:
    """One page of the feed: {changes, next_since, has_more}."""
    secret, user_id = request.app.ctx.settings.jwt_secret, request.ctx.user_id
    position, end = (0, None) if since is None else decode(secret, user_id, since, loc)
    full = since is None or end is not None
    rows, revision, end = await read_rows(request, position, end, full, limit, loc)
    more, rows = len(rows) > limit, rows[:limit]
    last = rows[-1]["revision"] if rows else position
    if full and more:
        next_since = encode(secret, user_id, last, end)
    elif full:
        next_since, more = encode(secret, user_id, end), revision > end
    else:
        next_since = encode(secret, user_id, last)
    return {"changes": [change(row) for row in rows], "next_since": next_since, "has_more": more}


async def read_rows(
    request: Request, position: int, end: int | None, full: bool, limit: int, loc: list[Any]
) -> tuple[list[Row], int, int]:
    """(up to limit + 1 rows after position, the user's revision, the full sync's end). A full
    sync without an end starts now: its end is the revision committed at this point."""
    queries, user_id = request.app.ctx.queries, request.ctx.user_id
    async with request.ctx.db.transaction() as conn:
        state = await queries.sync_state(conn, user_id=user_id)
        return await rows_after(conn, queries, user_id, state, position, end, full, limit, loc)


async def rows_after(
    conn: Executor,
    queries: Queries,
    user_id: str,
    state: Row,
    position: int,
    end: int | None,
    full: bool,
    limit: int,
    loc: list[Any],
) -> tuple[list[Row], int, int]:
    """read_rows once the user's state (a row of sync_state, or of stream_state) is read."""
    revision = state["revision"]
    if full and end is None:
        end = revision
    if not full and position < state["sync_horizon"]:
        raise SyncExpired()
    if position > revision:  # a token of a revision never committed: not ours
        invalid(loc)
    upto = end if full and end is not None else revision
    rows = await changes_between(
        conn, queries, user_id, state["member"], position, upto, full, limit + 1
    )
    return rows, revision, upto


async def changes_between(
    conn: Executor,
    queries: Queries,
    user_id: str,
    member: bool,
    since: int,
    upto: int,
    live_only: bool,
    limit: int,
) -> list[Row]:
    """The first `limit` changes of the user's feed with since < revision <= upto, in revision
    order: their own objects' and, when they are a member (sync_state's `member`), the shared
    lists' (migration 0049), both on the user's one counter."""
    reads = [queries.changes_after]
    if member:
        reads.append(queries.member_changes_after)
    found = [
        [
            row
            async for row in read(
                conn, user_id=user_id, since=since, upto=upto, live_only=live_only, limit=limit
            )
        ]
        for read in reads
    ]
    return list(heapq.merge(*found, key=lambda row: row["revision"]))[:limit]


def change(row: Any) -> dict[str, Any]:
    """One change as the contract's Change: the whole object of its kind, or null for a
    delete."""
    data = BODIES[row["kind"]](row) if row["op"] == "upsert" else None
    return {
        "kind": row["kind"],
        "op": row["op"],
        "id": row["id"],
        "data": data,
        "changed_at": row["changed_at"],
    }


def invalid(loc: list[Any]) -> NoReturn:
    raise BadRequest.at(
        loc, "invalid since", "value_error", "This since is not one this service gave you."
    )


def _mac(secret: str, user_id: str, payload: bytes) -> bytes:
    key = hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, user_id.encode() + b"\n" + payload, hashlib.sha256).digest()[:MAC_BYTES]
