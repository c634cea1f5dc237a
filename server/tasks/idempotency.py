"""Idempotent task creation and writes: a retry with the same Idempotency-Key answers what the
first request answered (the task it created, as it was then); the same key with a different request
is refused; two requests racing with one key create one task, because the key's row is inserted
first, in the creating transaction.

Once that task is deleted (in the trash, or purged), the retry is told so, 409
`created-task-deleted`, with the task's id: the first 201 again would send the client a task,
a Location and an ETag that no longer exist (a client putting it back in its list brings back
what the user deleted), and creating it again would undo the deletion. The client learns what
it needs: its request did create the task, and the task is gone.

A write (PUT, PATCH, complete) with a key is done once the same way: its retry answers the task
as the first request left it, and does not complete a recurring task a second time (the one
write that a repeat changes). Once the task is gone, the retry is the 404 a write to it is.

once() is that pattern for any one object a request makes (a comment: server/comments/), and
for requests answered as they were whatever happened since (a batch, an import).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from server.db.executor import ATTEMPTS, Executor, Row
from server.db.queries import Queries
from server.errors import ApiError, Conflict, NotFound, UnprocessableContent
from server.tasks.fields import json_ready, request_hash, task_body
from server.tasks.missing import NO_TASK


class CreatedTaskDeleted(Conflict):
    slug = "created-task-deleted"
    default_detail = "The task this Idempotency-Key created has since been deleted."


async def create_once(
    db: Executor,
    queries: Queries,
    user_id: str,
    key: str,
    fields: Mapping[str, Any],
    create: Callable[[Executor], Awaitable[Row]],
) -> dict[str, Any]:
    """The created task's body: made now by create(connection), or replayed from the request
    that first used `key`."""

    def deleted(task_id: str) -> ApiError:
        return CreatedTaskDeleted(
            f"The task this Idempotency-Key created ({task_id}) has since been deleted."
        )

    return await _task_once(db, queries, user_id, key, fields, create, deleted)


async def write_once(
    db: Executor,
    queries: Queries,
    user_id: str,
    key: str,
    request: Mapping[str, Any],
    write: Callable[[Executor], Awaitable[Row]],
) -> dict[str, Any]:
    """The written task's body: written now by write(connection), or replayed from the request
    that first used `key` (`request`: what tells a retry from another request with the key)."""
    return await _task_once(db, queries, user_id, key, request, write, lambda _: NotFound(NO_TASK))


async def _task_once(
    db: Executor,
    queries: Queries,
    user_id: str,
    key: str,
    request: Mapping[str, Any],
    make: Callable[[Executor], Awaitable[Row]],
    gone: Callable[[str], ApiError],
) -> dict[str, Any]:
    """The body of the task make(connection) answers now, or the one the first request with
    `key` got; gone(task id) when that task no longer exists."""

    async def work(conn: Executor) -> tuple[str | None, dict[str, Any]]:
        row = await make(conn)
        return row["id"], json_ready(task_body(row))

    async def still_there(body: dict[str, Any]) -> None:
        if await queries.task_version(db, user_id=user_id, id=body["id"]) is None:
            raise gone(body["id"])

    return await once(db, queries, user_id, key, request_hash(request), work, still_there)


async def once(
    db: Executor,
    queries: Queries,
    user_id: str,
    key: str,
    digest: bytes,
    work: Callable[[Executor], Awaitable[tuple[str | None, dict[str, Any]]]],
    still_there: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """The body that work(connection) answers now (its task id and JSON-ready body), in the
    transaction that claims `key`; or the body the first request with `key` got (the
    caller's executor checks the account before the claim: the key's row refers to it), once
    still_there(body), when given, has checked that the one object that request made or wrote
    is still there for the caller (it raises what the retry is told otherwise)."""
    for _attempt in range(ATTEMPTS):
        async with db.transaction() as conn:
            # Waits here while another transaction holds the same key, until it ends.
            if await queries.claim_idempotency_key(
                conn, user_id=user_id, key=key, request_hash=digest
            ):
                task_id, body = await work(conn)
                await queries.record_idempotent_response(
                    conn, user_id=user_id, key=key, task_id=task_id, response=body
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
        if still_there is not None:
            await still_there(response)
        return response
    raise RuntimeError("could not claim an idempotency key")  # pragma: no cover
