"""Handlers of the contract tag `push`: the application server key, and the signed-in
account's push subscriptions (a browser's PushSubscription JSON). 404 for all of them, as for
an unknown route, when PUSH_ENABLED is off."""

from __future__ import annotations

import base64
import binascii
import functools
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from server.config import Settings
from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import NO_ROUTE, AccountGone, NotFound, QuotaExceeded, UnprocessableContent
from server.http.egress import is_public
from server.push.keys import public_key, vapid_key

SUBSCRIPTION_QUOTA = 20  # browsers and devices per account


@functools.cache
def _public_key(settings: Settings) -> str:
    return public_key(vapid_key(settings))


def _require_push(request: Request) -> None:
    if not request.app.ctx.settings.push_enabled:
        raise NotFound(NO_ROUTE)


async def get_vapid_public_key(request: Request) -> Reply:
    _require_push(request)
    return Reply({"public_key": _public_key(request.app.ctx.settings)})


async def list_push_subscriptions(request: Request) -> Reply:
    _require_push(request)
    app = request.app
    rows = app.ctx.queries.list_push_subscriptions(request.ctx.db, user_id=request.ctx.user_id)
    return Reply({"subscriptions": [dict(row) async for row in rows]})


async def create_push_subscription(request: Request) -> Reply:
    """201 for a new endpoint; the same endpoint again replaces its keys (200)."""
    _require_push(request)
    app, body, user_id = request.app, request.ctx.body, request.ctx.user_id
    endpoint, keys = body["endpoint"], body["keys"]
    _check_endpoint(app.ctx.settings, endpoint)
    _check_key(keys["p256dh"], "p256dh")
    _check_key(keys["auth"], "auth")
    async with request.ctx.db.transaction() as conn:
        # one count at a time per account; gone (deleted meanwhile): 401, as for its token
        if await app.ctx.queries.lock_user(conn, id=user_id) is None:
            raise AccountGone()
        row = await app.ctx.queries.save_push_subscription(
            conn, user_id=user_id, endpoint=endpoint, p256dh=keys["p256dh"], auth=keys["auth"]
        )
        if (
            row["created"]
            and await app.ctx.queries.count_push_subscriptions(conn, user_id=user_id)
            > SUBSCRIPTION_QUOTA
        ):
            raise QuotaExceeded(f"An account has at most {SUBSCRIPTION_QUOTA} subscriptions.")
    subscription = {k: row[k] for k in ("id", "endpoint", "created_at")}
    return Reply(subscription, status=201 if row["created"] else 200)


async def delete_push_subscription(request: Request) -> Reply:
    _require_push(request)
    app = request.app
    deleted = await app.ctx.queries.delete_push_subscription(
        request.ctx.db, user_id=request.ctx.user_id, id=request.ctx.path_params["subscription_id"]
    )
    if deleted is None:
        raise NotFound("No such push subscription.")
    return Reply(status=204)


def _check_endpoint(settings: Settings, endpoint: str) -> None:
    """A push service's URL: https at a public address (in development http too, and any
    address: a push service on loopback)."""
    url = urlsplit(endpoint)
    schemes = ("https",) if settings.production else ("https", "http")
    public = not settings.production or is_public(url.hostname or "")
    if url.scheme not in schemes or not url.hostname or url.username or url.password or not public:
        raise UnprocessableContent.at(
            ["body", "endpoint"],
            f"must be an {' or '.join(schemes)} URL of a push service at a public address",
            "format",
        )


def _check_key(value: str, name: str) -> None:
    """p256dh: a P-256 public key, uncompressed (65 bytes); auth: a 16-byte secret (RFC 8291)."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if name == "p256dh":
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
            ok = len(raw) == 65
        else:
            ok = len(raw) == 16
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        what = "an uncompressed P-256 public key" if name == "p256dh" else "16 bytes"
        raise UnprocessableContent.at(
            ["body", "keys", name], f"must be {what}, base64url-encoded", "format"
        )
