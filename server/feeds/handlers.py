"""Handlers of the calendar feeds (contract tag `integrations`): make, list and revoke an
account's feeds, and serve one at its secret URL without a bearer token.

A feed's secret is `tdc_` and 256 random bits; only its SHA-256 is stored, so the URL is
answered once, at creation. Serving looks the hash up on every request: a revoked feed (or
one whose list or account was deleted: the cascades of migration 0046) is a 404 on the very
next request, on every instance. The access log never shows the secret (the path parameter is
`format: password` in the contract: server/system/middleware.py writes the route instead)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from server.clients import client_key
from server.contract.context import Request
from server.contract.reply import AccessEnded, Reply
from server.errors import (
    AccountGone,
    NotFound,
    QuotaExceeded,
    ServiceUnavailable,
    UnprocessableContent,
)
from server.feeds.ical import calendar
from server.http.preconditions import Malformed, entity_tags
from server.lists.missing import not_your_list
from server.slots import Slots

FEED_SECRET_PREFIX = "tdc_"  # noqa: S105 (a prefix, not a secret)
FEED_QUOTA = 50  # feeds per account
FEED_TASKS = 10_000  # VTODOs a feed serves at most: the soonest dues
FORMAT = "1"  # the text's layout: part of the ETag, so a new layout is downloaded again
NO_FEED = "No such calendar feed."
FEEDS_AT_ONCE = 4  # feeds a worker writes at once, a feed's at most one
FEED_WAIT = 10  # seconds a feed waits for its turn past FEEDS_AT_ONCE, then 503
FEED_RETRY = 2  # seconds (Retry-After): 10,000 VTODOs are written in about one
FEEDS_UNSENT = 64 * 1024 * 1024  # bytes of feeds written, not sent yet, per worker: 503 past it
FEEDS_PER_CLIENT = 4  # feeds of one client (address) at once, written and not sent yet


class FeedBusy(ServiceUnavailable):
    slug = "feed-busy"
    default_detail = "This calendar feed is being written, or too many are; retry shortly."


def feed_slots() -> Slots:
    """A worker writes a feed one at a time, until it is sent, and FEEDS_AT_ONCE in all
    (reading its tasks and writing its text on a thread; past that a feed waits its turn): a
    feed of 10,000 VTODOs takes some 20-40 MB at its peak (sixteen requests of one feed's URL
    at once held a worker at 457 MB, and 373 MB after), and its text (some 24 MB) until sent
    (FEEDS_UNSENT in all)."""
    return Slots(
        FEEDS_AT_ONCE, FEED_WAIT, FEEDS_UNSENT, FEEDS_PER_CLIENT, lambda: FeedBusy(FEED_RETRY)
    )


def feed_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_calendar_feed(request: Request) -> Reply:
    app, user_id = request.app, request.ctx.user_id
    list_id = request.ctx.body.get("list_id")
    list_id = None if list_id is None else str(list_id)
    token = FEED_SECRET_PREFIX + secrets.token_urlsafe(32)
    async with request.ctx.db.transaction() as conn:
        if await app.ctx.queries.lock_user(conn, id=user_id) is None:
            raise AccountGone()
        row = await app.ctx.queries.create_calendar_feed(
            conn,
            user_id=user_id,
            list_id=list_id,
            token_hash=feed_token_hash(token),
            quota=FEED_QUOTA,
        )
        if row is None:
            # a shared list of another's: 403 naming the owner role, by the gate
            known = True
            if list_id is not None:
                role = await app.ctx.queries.calendar_feed_list_role(
                    conn, **request.ctx.token, list_id=list_id
                )
                known = role["caller_role"] is not None
            if not known:
                raise UnprocessableContent.at(
                    ["body", "list_id"], not_your_list("for every list"), "value_error"
                )
            raise QuotaExceeded(f"An account has at most {FEED_QUOTA} calendar feeds.")
    url = f"{request.scheme}://{request.host}/calendar/{token}"
    return Reply({**dict(row), "url": url}, status=201)


async def list_calendar_feeds(request: Request) -> Reply:
    rows = request.app.ctx.queries.list_calendar_feeds(request.ctx.db, user_id=request.ctx.user_id)
    return Reply({"feeds": [dict(row) async for row in rows]})


async def delete_calendar_feed(request: Request) -> Reply:
    deleted = await request.app.ctx.queries.delete_calendar_feed(
        request.ctx.db, user_id=request.ctx.user_id, id=str(request.ctx.path_params["feed_id"])
    )
    if deleted is None:
        raise NotFound(NO_FEED)
    return Reply(status=204)


async def serve_calendar_feed(request: Request) -> Reply:
    """The feed's text, or 304 when If-None-Match names its tag. The tag is read before the
    tasks, so what is answered is at least as new as the tag it carries (a change committing
    in between is served again under the next tag, never missed)."""
    queries, db = request.app.ctx.queries, request.ctx.db
    token_hash = feed_token_hash(request.ctx.path_params["feed_token"])
    feed = await queries.calendar_feed_state(db, token_hash=token_hash)
    if feed is None:
        raise NotFound(NO_FEED)
    # The zone too: an UNTIL in local time is written in UTC by it (ical.rule), and a change of
    # zone moves no revision of an account without all-day tasks.
    tag = f"{FORMAT}.{feed['revision']}.{feed['timezone']}"
    headers = {"ETag": f'W/"{tag}"'}
    if _names(request.ctx.header_params.get("If-None-Match"), tag):
        return Reply(status=304, headers=headers)
    user_id, list_id = str(feed["user_id"]), feed["list_id"]

    async def read() -> list[dict[str, Any]]:
        rows = queries.calendar_feed_tasks(db, user_id=user_id, list_id=list_id, limit=FEED_TASKS)
        return [dict(row) async for row in rows]

    def written(rows: list[dict[str, Any]]) -> bytes:
        return _written(feed["list_name"] or "Tasks", rows, feed["timezone"])

    feeds = request.app.ctx.feeds

    async def live() -> None:  # asked while a large feed is sent: revoked, it is cut off
        if await queries.calendar_feed_state(db, token_hash=token_hash) is None:
            raise AccessEnded(NotFound(NO_FEED))

    text = await feeds.run(str(feed["id"]), client_key(request), read, written, request.ctx)
    return Reply(text, headers=headers, content_type="text/calendar; charset=utf-8", allowed=live)


def _written(name: str, rows: list[dict[str, Any]], zone: str) -> bytes:
    return calendar(name, rows, zone).encode()


def _names(header: str | None, opaque: str) -> bool:
    if header is None:
        return False
    if header.strip() == "*":
        return True
    try:
        return any(found == opaque for _weak, found in entity_tags(header))
    except Malformed:
        return False
