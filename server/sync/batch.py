"""POST /tasks/batch: up to 100 task operations in order, each answered as its single operation
would answer. Every item runs in a savepoint of one transaction: a failed item changes nothing,
and with `atomic` any failure rolls the whole batch back (409: the failed items with their
problem, the others 424). Each item's body is validated by the compiled request schema of its
single operation (the contract's BatchBodies names them), so a bad body is that item's 422."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg

from server.contract.adapters import OpenAPIBody
from server.contract.context import Request
from server.contract.fastpath import Unsure
from server.contract.problems import problem
from server.contract.reply import JSON, Reply
from server.contract.validation import RequestValues, check_storable, validate_body
from server.db.executor import Executor, Row
from server.errors import ApiError, PreconditionFailed, UnprocessableContent, to_api_error
from server.http.preconditions import if_match_versions
from server.tasks import completion, placement
from server.tasks import fields as task_fields
from server.tasks.fields import json_ready, request_hash, task_body
from server.tasks.idempotency import once
from server.tasks.missing import missing_or_stale

STALE_ITEM = (
    "The task has changed since you read it (if_match did not match): its current tag is {};"
    " read it again, then retry the item with that tag in if_match."
)
FOUND = "found"  # an item's key (never one of the contract's): see _lock_ahead
OPERATIONS = {  # op -> (its single operation, the success status)
    "create": ("create_task", 201),
    "update": ("update_task", 200),
    "complete": ("complete_task", 200),
    "move": ("move_task", 200),
    "delete": ("delete_task", 204),
}


class BatchFailed(ApiError):
    """An atomic batch rolled back: `results` holds the failed items with their problem, the
    others 424."""

    status, slug = 409, "batch-failed"
    default_detail = "An item of the atomic batch failed, so none was applied."

    def __init__(self, results: list[dict[str, Any]]) -> None:
        super().__init__(members={"results": results})


async def batch_tasks(request: Request) -> Reply:
    app, body = request.app, request.ctx.body
    key = request.ctx.header_params.get("Idempotency-Key")

    async def work(conn: Executor) -> tuple[None, dict[str, Any]]:
        items = await _lock_ahead(request, conn, body["operations"])
        results = [await _item(request, conn, index, item) for index, item in enumerate(items)]
        if body.get("atomic") and any(r["status"] >= 400 for r in results):
            raise BatchFailed([r if r["status"] >= 400 else {"status": 424} for r in results])
        return None, json_ready({"results": results})

    if key is None:
        async with request.ctx.db.transaction() as conn:
            _none, answer = await work(conn)
    else:
        digest = request_hash({"batch": body})
        user_id = request.ctx.user_id
        answer = await once(request.ctx.db, app.ctx.queries, user_id, key, digest, work)
    return Reply(answer)


async def _item(
    request: Request, conn: Executor, index: int, item: dict[str, Any]
) -> dict[str, Any]:
    name, success = OPERATIONS[item["op"]]
    try:
        async with conn.transaction():  # a savepoint: a failed item leaves no trace
            row = await RUN[item["op"]](request, conn, _body(request, name, item), item)
    except asyncpg.DeadlockDetectedError:
        raise  # the batch is the victim: rolled back whole, it runs again (contract/pipeline.py)
    except Exception as exc:
        error = to_api_error(exc, request.app.ctx.settings.retry_after_seconds)
        return {"status": error.status, "problem": problem(request, _located(_stale(error), index))}
    return {"status": success} if row is None else {"status": success, "task": task_body(row)}


def _stale(error: ApiError) -> ApiError:
    """An item has no headers: its 412 names the current tag in its detail."""
    if isinstance(error, PreconditionFailed) and error.detail == error.default_detail:
        error.detail = STALE_ITEM.format(error.headers["ETag"])
    return error


async def _lock_ahead(
    request: Request, conn: Executor, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The locks the items will take, taken first and in the order every writer takes them
    (migration 0032): the placement lock for a move or a create (a subtask's), then the task
    count for a create, of the caller and of each owner of a shared list the items name, in id
    order. Taken item by item, the batch could hold the count and wait for the placement lock
    a restore holds while the restore waits for the count, or hold a row of a shared list's
    task and wait for its owner's placement lock, which the owner's move holds while it waits
    for that row (the caller's own alone were taken ahead before: the review's F2). Then the lists
    and the rows of the tasks the items name (the lists in id order; the rows a level at a time
    from the top of their trees, each level in id order): item by item, two batches naming the
    same tasks in opposite orders deadlock (and their retries again), as does a batch with a
    deletion of the list (sql/tasks.sql's lock_batch_lists). Answers the items as they run: the
    first update or complete of each task carries, as FOUND, its completion as the batch found
    it before it waited for its row (how server/tasks/completion.py tells a concurrent
    completion). The subtasks of a task an item completes, moves to a list or deletes are
    locked with them (sql/tasks.sql's lock_batch_tasks)."""
    queries, user_id = request.app.ctx.queries, request.ctx.user_id
    ops = {item["op"] for item in items}
    ids = _uuids(item.get("task_id") for item in items)
    list_ids = _uuids((item.get("body") or {}).get("list_id") for item in items)
    role = request.ctx.access["required_role"]
    placing = [item for item in items if item["op"] in ("create", "move")]
    if placing:  # whose trees and counts they change: the tasks moved, the parents and lists
        bodies = [item.get("body") or {} for item in placing]
        placed_ids = _uuids(
            [item.get("task_id") for item in placing] + [b.get("parent_id") for b in bodies]
        )
        placed_lists = _uuids(body.get("list_id") for body in bodies)
        owners = [user_id]
        if placed_ids or placed_lists:
            named = queries.batch_owners(
                conn, user_id=user_id, required_role=role, ids=placed_ids, list_ids=placed_lists
            )
            owners = sorted({user_id, *[str(row["owner_id"]) async for row in named]})
        for owner in owners:
            await queries.lock_owner_placement(conn, owner_id=owner)
        if "create" in ops:
            for owner in owners:
                await queries.lock_task_count(conn, user_id=owner)
    if ids or list_ids:
        await queries.lock_batch_lists(
            conn, user_id=user_id, required_role=role, ids=ids, list_ids=list_ids
        )
    found: dict[str, tuple[bool, Any]] = {}
    if ids:
        locked = queries.lock_batch_tasks(
            conn, user_id=user_id, required_role=role, ids=ids, trees=_trees(items)
        )
        found = {
            str(row["id"]): (row["seen_completed"], row["seen_completed_at"])
            async for row in locked
        }
    prepared = []
    for item in items:
        writes = item["op"] in ("update", "complete")
        seen = found.pop(str(item.get("task_id")), None) if writes else None
        prepared.append(item if seen is None else {**item, FOUND: seen})
    return prepared


def _trees(items: list[dict[str, Any]]) -> list[str]:
    """The tasks whose subtrees the items change with them: completed (a completion completes
    the subtasks; reopening does not), moved to a list (they travel) or deleted (to the
    trash)."""
    return _uuids(item.get("task_id") for item in items if _changes_subtree(item))


def _changes_subtree(item: dict[str, Any]) -> bool:
    body = item.get("body") or {}
    if item["op"] == "complete":
        return body.get("is_completed") is not False  # set, or toggled
    if item["op"] == "update":
        return body.get("is_completed") is True
    return item["op"] == "delete" or (item["op"] == "move" and "list_id" in body)


def _uuids(values: Iterable[Any]) -> list[str]:
    """The values that are uuids (an item's own fields are checked as it runs), sorted."""
    found: set[str] = set()
    for value in values:
        try:
            found.add(str(uuid.UUID(value)))
        except (TypeError, ValueError, AttributeError):
            continue
    return sorted(found)


def _body(request: Request, name: str, item: dict[str, Any]) -> Any:
    """The item's body, read as its single operation reads a JSON body: the same compiled plan,
    and openapi-core, with its own wording, where the plan is unsure."""
    plan = request.app.ctx.plans[name]
    if not plan.has_body:
        return None
    raw = item.get("body")
    if raw is None:
        if plan.body_required:
            needs = f"A {item['op']} item needs a body."
            raise UnprocessableContent.at(["body"], "Field required", "missing", needs)
        return None
    try:
        body = plan.parsed_body(raw, JSON)
    except Unsure:
        operation = request.app.ctx.contract.by_id[name]
        body = validate_body(request.app.ctx.contract, OpenAPIBody(request, operation, raw))
    check_storable(RequestValues({}, {}, {}, raw))
    return body


def _located(error: ApiError, index: int) -> ApiError:
    """The error with its locations in the batch's request body: an item's field at
    ["body", "operations", index, "task_id"], its body's at [..., index, "body", "title"],
    its if_match (the single operation's If-Match header) at [..., index, "if_match"]."""
    if error.errors:
        error.errors = [
            {**e, "loc": ["body", "operations", index, *_in_item(e["loc"])]} for e in error.errors
        ]
    return error


def _in_item(loc: list[Any]) -> list[Any]:
    return ["if_match"] if loc == ["header", "If-Match"] else loc


def _task_id(item: dict[str, Any]) -> str:
    if item.get("task_id") is None:
        needs = f"A {item['op']} item needs the task_id of the task it acts on."
        raise UnprocessableContent.at(["task_id"], "Field required", "missing", needs)
    return str(item["task_id"])


def _versions(item: dict[str, Any]) -> list[int] | None:
    return if_match_versions(item.get("if_match"))


async def _written(request: Request, conn: Executor, item: dict[str, Any], row: Any) -> Any:
    """The written row, or the single operation's 404/412 when nothing matched."""
    if row["id"] is not None:
        return row
    await missing_or_stale(conn, request.app.ctx.queries, request.ctx.user_id, _task_id(item))


async def _create(request: Request, conn: Executor, body: Any, item: dict[str, Any]) -> Any:
    quota = request.app.ctx.settings.task_quota
    fields = task_fields.placed_fields(body)
    return await placement.create(conn, request.app.ctx.queries, request.ctx.access, fields, quota)


async def _update(request: Request, conn: Executor, body: Any, item: dict[str, Any]) -> Any:
    return await _patch(request, conn, item, task_fields.patched_fields(body))


async def _complete(request: Request, conn: Executor, body: Any, item: dict[str, Any]) -> Any:
    return await _patch(request, conn, item, task_fields.completed_fields(body))


async def _patch(request: Request, conn: Executor, item: dict[str, Any], fields: Any) -> Any:
    """As PATCH and complete write: a recurring task's completion advances it (completion.py)."""
    app = request.app
    return await completion.write(
        conn,
        app.ctx.queries,
        request.ctx.access,
        _task_id(item),
        _versions(item),
        fields,
        app.ctx.clock(),
        item.get(FOUND),
    )


async def _move(request: Request, conn: Executor, body: Any, item: dict[str, Any]) -> Row:
    return await placement.move(
        conn, request.app.ctx.queries, request.ctx.access, _task_id(item), body, _versions(item)
    )


async def _delete(request: Request, conn: Executor, body: Any, item: dict[str, Any]) -> Any:
    deleted = await request.app.ctx.queries.delete_task(
        conn, **request.ctx.access, id=_task_id(item), versions=_versions(item)
    )
    await _written(request, conn, item, deleted)
    return None


RUN: dict[str, Callable[[Request, Any, Any, dict[str, Any]], Awaitable[Any]]] = {
    "create": _create,
    "update": _update,
    "complete": _complete,
    "move": _move,
    "delete": _delete,
}
