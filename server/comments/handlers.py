"""Handlers of the contract tag `comments`: the comments of a task, which every member of its
list reads and its editors write (SPEC §11).

Each statement (sql/comments.sql) checks the account and the caller's role on the task's list
itself, writes nothing for a role too low (the gate answers that 403 before the handler sees
the row), and decides "its author" and "its author or the list's owner" in its own WHERE
clause, answering the verdict beside the row: a handler reads verdicts, never compares roles.
A task the caller may not see is the 404 of a missing task, byte for byte."""

from __future__ import annotations

from typing import Any

from server.comments.body import comment_body, trimmed_text
from server.contract.context import Request
from server.contract.reply import Reply
from server.db.executor import Executor
from server.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    QuotaExceeded,
)
from server.http.paging import cursor_instant, decode_cursor, encode_cursor
from server.http.preconditions import etag, if_match_versions
from server.tasks.fields import json_ready, request_hash
from server.tasks.idempotency import once
from server.tasks.missing import NO_TASK

NO_COMMENT = "No such comment."


class CreatedCommentDeleted(Conflict):
    slug = "created-comment-deleted"
    default_detail = "The comment this Idempotency-Key created has since been deleted."


async def list_comments(request: Request) -> Reply:
    query, task_id = request.ctx.query, _task_id(request)
    secret = request.app.ctx.settings.jwt_secret
    context = f"comments\n{request.ctx.user_id}\n{task_id}".encode()
    after_created_at, after_id = None, None
    if (cursor := query.get("cursor")) is not None:
        key, after_id = decode_cursor(secret, context, cursor)
        after_created_at = cursor_instant(key)
    limit = query["limit"]
    rows = [
        row
        async for row in request.app.ctx.queries.list_comments(
            request.ctx.db,
            **request.ctx.access,
            task_id=task_id,
            after_created_at=after_created_at,
            after_id=after_id,
            limit=limit + 1,
        )
    ]
    if rows[0]["caller_role"] is None:
        raise NotFound(NO_TASK)
    found = [comment_body(row) for row in rows if row["id"] is not None]
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        last = found[-1]
        next_cursor = encode_cursor(secret, context, last["created_at"].isoformat(), last["id"])
    return Reply({"comments": found, "next_cursor": next_cursor})


async def create_comment(request: Request) -> Reply:
    """The new comment; with an Idempotency-Key made once (server/tasks/idempotency.py): a
    retry answers the comment the first request made, while it is still there."""
    app, db, task_id = request.app, request.ctx.db, _task_id(request)
    body, user_id = _body(request.ctx.body), request.ctx.user_id
    quota = app.ctx.settings.comment_quota

    async def create(conn: Executor) -> tuple[None, dict[str, Any]]:
        task = await app.ctx.queries.lock_comment_task(conn, **request.ctx.access, task_id=task_id)
        if task["owner_id"] is None:
            raise NotFound(NO_TASK)
        row = await app.ctx.queries.create_comment(
            conn,
            owner_id=task["owner_id"],
            task_id=task_id,
            author_id=user_id,
            body=body,
            quota=quota,
        )
        if row is None:
            raise QuotaExceeded(f"A task has at most {quota} comments.")
        return None, json_ready(comment_body(row))

    async def still_there(comment: dict[str, Any]) -> None:
        state = await app.ctx.queries.created_comment_state(
            db, user_id=user_id, task_id=task_id, id=comment["id"]
        )
        if not state["task_seen"]:
            raise NotFound(NO_TASK)
        if not state["live"]:
            made = comment["id"]
            raise CreatedCommentDeleted(
                f"The comment this Idempotency-Key created ({made}) has since been deleted."
            )

    key = request.ctx.header_params.get("Idempotency-Key")
    if key is None:
        async with db.transaction() as conn:
            _none, comment = await create(conn)
    else:
        digest = request_hash({"comment_on": task_id, "body": body})
        comment = await once(db, app.ctx.queries, user_id, key, digest, create, still_there)
    return Reply(comment, status=201, headers={"ETag": etag(comment["version"])})


async def update_comment(request: Request) -> Reply:
    row = await request.app.ctx.queries.update_comment(
        request.ctx.db,
        **request.ctx.access,
        task_id=_task_id(request),
        id=_comment_id(request),
        versions=if_match_versions(request.ctx.header_params.get("If-Match")),
        body=_body(request.ctx.body),
    )
    if row["caller_role"] is None:
        raise NotFound(NO_TASK)
    if row["id"] is None:
        if row["seen_version"] is None:
            raise NotFound(NO_COMMENT)
        if not row["is_author"]:
            raise PermissionDenied("Only its author can edit a comment.")
        raise PreconditionFailed(
            etag(row["seen_version"]),
            "The comment has changed since that ETag; its current one is in the ETag header.",
        )
    return Reply(comment_body(row), headers={"ETag": etag(row["version"])})


async def delete_comment(request: Request) -> Reply:
    row = await request.app.ctx.queries.delete_comment(
        request.ctx.db, **request.ctx.access, task_id=_task_id(request), id=_comment_id(request)
    )
    if row["caller_role"] is None:
        raise NotFound(NO_TASK)
    if row["id"] is None:
        if row["may_delete"] is None:
            raise NotFound(NO_COMMENT)
        raise PermissionDenied("Only its author or the list's owner can delete a comment.")
    return Reply(status=204)


def _body(request_body: Any) -> str:
    return trimmed_text(request_body["body"], ["body", "body"])


def _task_id(request: Request) -> str:
    return str(request.ctx.path_params["task_id"])


def _comment_id(request: Request) -> str:
    return str(request.ctx.path_params["comment_id"])
