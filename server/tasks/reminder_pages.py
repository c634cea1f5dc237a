"""GET /api/{user_id}/reminders a page at a time: the user's reminders falling due in the window,
by fire_at then task, from reminder_times (migration 0036) in one statement that also checks the
access token. `next_cursor` continues after the page's last reminder (keyset: a reminder written
meanwhile before it is not seen, none is seen twice); it is bound to the user and the window
(server/http/paging.py), so a garbled, tampered, another user's or another window's is a 400."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from server.db.executor import Executor
from server.db.queries import Queries, TokenParams
from server.http.paging import decode_cursor, encode_cursor, invalid_cursor

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIELDS = ("task_id", "title", "fire_at")


async def read_page(
    db: Executor,
    queries: Queries,
    token: TokenParams,
    window: tuple[datetime, datetime],
    query: Mapping[str, Any],
    secret: str,
) -> dict[str, Any]:
    """The ReminderList body: `limit` reminders of [start, end) after `cursor` (if given)."""
    context = _context(str(token["user_id"]), *window)
    after_fire_at, after_task_id = None, None
    if "cursor" in query:
        after_fire_at, after_task_id = _after(decode_cursor(secret, context, query["cursor"]))
    limit = query["limit"]
    rows = [
        row
        async for row in queries.list_reminders(
            db,
            **token,
            window_from=window[0],
            window_to=window[1],
            after_fire_at=after_fire_at,
            after_task_id=after_task_id,
            limit=limit + 1,  # one more: does another page follow?
        )
    ]
    found = [{name: row[name] for name in FIELDS} for row in rows if row["task_id"] is not None]
    if len(found) <= limit:
        return {"reminders": found, "next_cursor": None}
    last = found[limit - 1]
    cursor = encode_cursor(secret, context, last["fire_at"].isoformat(), str(last["task_id"]))
    return {"reminders": found[:limit], "next_cursor": cursor}


def _context(user_id: str, start: datetime, end: datetime) -> bytes:
    """What a cursor is bound to: the user and the window's instants (however they were spelt;
    counted from the epoch, which no edge of the date-time domain overflows)."""
    micro = timedelta(microseconds=1)
    return orjson.dumps(["reminders", user_id, (start - EPOCH) // micro, (end - EPOCH) // micro])


def _after(cursor: tuple[Any, str]) -> tuple[str, str]:
    """The cursor's (fire_at, task_id); the MAC vouches for them, this checks their shape.
    fire_at goes to the query as the text it is (the driver would send year 1's first instant
    as -infinity)."""
    raw, last_id = cursor
    try:
        fire_at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        task_id = str(uuid.UUID(last_id))
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    if fire_at is None or fire_at.tzinfo is None:
        raise invalid_cursor()
    return fire_at.isoformat(), task_id
