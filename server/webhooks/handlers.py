"""Handlers of the contract tag `webhooks`: an account's webhooks, their delivery log, a
redelivery and a test ping. What is sent, and when, is the dispatcher's (dispatcher.py)."""

from __future__ import annotations

from typing import Any

from server.contract.context import Request
from server.contract.reply import Reply
from server.db.executor import Executor, Row
from server.errors import AccountGone, Conflict, NotFound, QuotaExceeded, TooManyRequests
from server.webhooks.events import PING, payload
from server.webhooks.secrets import key_ring
from server.webhooks.signing import new_secret
from server.webhooks.targets import check_url

DELIVERIES_SHOWN = 50
MANUAL_QUEUED = 10  # pings and redeliveries waiting per webhook
MANUAL_RETRY_SECONDS = 30
NO_WEBHOOK = "No such webhook."
WEBHOOK_FIELDS = ("id", "url", "events", "enabled", "disabled_reason", "created_at")


def _webhook(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in WEBHOOK_FIELDS}


def _delivery(row: Row) -> dict[str, Any]:
    answered = row["response_code"] is not None
    return {
        "id": row["id"],
        "message_id": row["message_id"],
        "type": row["type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "attempted_at": row["attempted_at"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
        "response_code": row["response_code"],
        "response_excerpt": row["last_error"] if answered else None,
        "error": None if answered else row["last_error"],
    }


def _webhook_id(request: Request) -> str:
    return str(request.ctx.path_params["webhook_id"])


async def create_webhook(request: Request) -> Reply:
    app, body, user_id = request.app, request.ctx.body, request.ctx.user_id
    await check_url(app.ctx.settings, body["url"])
    quota = app.ctx.settings.webhook_quota
    secret = new_secret()
    sealed = key_ring(app.ctx.settings).seal(secret)  # a copy of the database cannot sign
    async with request.ctx.db.transaction() as conn:
        # one count at a time per account; gone (deleted meanwhile): 401, as for its token
        if await app.ctx.queries.lock_user(conn, id=user_id) is None:
            raise AccountGone()
        if await app.ctx.queries.count_webhooks(conn, user_id=user_id) >= quota:
            raise QuotaExceeded(f"An account has at most {quota} webhooks.")
        row = await app.ctx.queries.create_webhook(
            conn, user_id=user_id, url=body["url"], events=body["events"], secret=sealed
        )
    return Reply({**_webhook(row), "secret": secret}, status=201)  # shown this once


async def list_webhooks(request: Request) -> Reply:
    rows = request.app.ctx.queries.list_webhooks(request.ctx.db, user_id=request.ctx.user_id)
    return Reply({"webhooks": [_webhook(row) async for row in rows]})


async def get_webhook(request: Request) -> Reply:
    row = await request.app.ctx.queries.get_webhook(
        request.ctx.db, user_id=request.ctx.user_id, id=_webhook_id(request)
    )
    if row is None:
        raise NotFound(NO_WEBHOOK)
    return Reply(_webhook(row))


async def update_webhook(request: Request) -> Reply:
    row = await request.app.ctx.queries.enable_webhook(
        request.ctx.db,
        user_id=request.ctx.user_id,
        id=_webhook_id(request),
        enabled=request.ctx.body["enabled"],
    )
    if row is None:
        raise NotFound(NO_WEBHOOK)
    return Reply(_webhook(row))


async def delete_webhook(request: Request) -> Reply:
    deleted = await request.app.ctx.queries.delete_webhook(
        request.ctx.db, user_id=request.ctx.user_id, id=_webhook_id(request)
    )
    if deleted is None:
        raise NotFound(NO_WEBHOOK)
    return Reply(status=204)


async def list_webhook_deliveries(request: Request) -> Reply:
    app, user_id, webhook_id = request.app, request.ctx.user_id, _webhook_id(request)
    if await app.ctx.queries.get_webhook(request.ctx.db, user_id=user_id, id=webhook_id) is None:
        raise NotFound(NO_WEBHOOK)
    rows = app.ctx.queries.list_webhook_deliveries(
        request.ctx.db, user_id=user_id, webhook_id=webhook_id, limit=DELIVERIES_SHOWN
    )
    return Reply({"deliveries": [_delivery(row) async for row in rows]})


async def redeliver_webhook_delivery(request: Request) -> Reply:
    """The same message again (its webhook-id and body), queued after what is queued."""
    app, user_id, webhook_id = request.app, request.ctx.user_id, _webhook_id(request)
    async with request.ctx.db.transaction() as conn:
        await _room_for_one_more(request, conn, webhook_id)
        row = await app.ctx.queries.queue_webhook_copy(
            conn, user_id=user_id, webhook_id=webhook_id, id=request.ctx.path_params["delivery_id"]
        )
    if row is None:
        raise NotFound("No such delivery of this webhook.")
    return Reply(_delivery(row), status=202)


async def test_webhook(request: Request) -> Reply:
    app, user_id, webhook_id = request.app, request.ctx.user_id, _webhook_id(request)
    async with request.ctx.db.transaction() as conn:
        if not await _room_for_one_more(request, conn, webhook_id):
            raise Conflict("The webhook is disabled: enable it first.")
        ping = {**payload(PING, {"webhook_id": webhook_id}), "manual": True}
        row = await app.ctx.queries.queue_webhook_ping(
            conn, user_id=user_id, webhook_id=webhook_id, payload=ping
        )
    if row is None:
        raise NotFound(NO_WEBHOOK)
    return Reply(_delivery(row), status=202)


async def _room_for_one_more(request: Request, conn: Executor, webhook_id: str) -> bool:
    """Whether the account's webhook is enabled, once its row is locked; 404 when there is no
    such webhook, 429 when MANUAL_QUEUED pings and redeliveries of it already wait."""
    queries = request.app.ctx.queries
    found = await queries.lock_webhook(conn, user_id=request.ctx.user_id, id=webhook_id)
    if found is None:
        raise NotFound(NO_WEBHOOK)
    if await queries.count_manual_deliveries(conn, webhook_id=webhook_id) >= MANUAL_QUEUED:
        raise TooManyRequests(
            MANUAL_RETRY_SECONDS,
            f"{MANUAL_QUEUED} pings and redeliveries of this webhook already wait to be sent.",
        )
    return bool(found["enabled"])
