"""Idempotent task creation: a retry with the same Idempotency-Key answers the first
request's task; the same key with a different request is refused; two requests racing with one
key create one task, because the key's row is inserted first, in the creating transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from server.db.pool import Database
from server.db.queries import Queries
from server.errors import AccountGone, UnprocessableContent
from server.tasks.fields import json_ready, request_hash, task_body

ATTEMPTS = 3


async def create_once(
    db: Database,
    queries: Queries,
    token: Mapping[str, Any],
    key: str,
    fields: Mapping[str, Any],
    create: Callable[[Any], Awaitable[Any]],
) -> dict[str, Any]:
    """The created task's body: made now by create(connection), or replayed from the request
    that first used `key`. The account is checked first: the key's row refers to it."""
    user_id, digest = token["user_id"], request_hash(fields)
    if not await queries.token_account_ok(db, **token):
        raise AccountGone()
    for _attempt in range(ATTEMPTS):
        async with db.transaction() as conn:
            # Waits here while another transaction holds the same key, until it ends.
            if await queries.claim_idempotency_key(
                conn, user_id=user_id, key=key, request_hash=digest
            ):
                row = await create(conn)
                body: dict[str, Any] = json_ready(task_body(row))
                await queries.record_idempotent_response(
                    conn, user_id=user_id, key=key, task_id=row["id"], response=body
                )
                return body
            earlier = await queries.get_idempotency_key(conn, user_id=user_id, key=key)
        if earlier is None:
            continue  # the earlier use was purged in between: claim it afresh
        if earlier["request_hash"] != digest:
            raise UnprocessableContent.at(
                ["header", "Idempotency-Key"],
                "already used with a different request",
                "value_error",
                "This Idempotency-Key was already used with a different request body.",
            )
        response: dict[str, Any] = earlier["response"]
        return response
    raise RuntimeError("could not claim an idempotency key")  # pragma: no cover
