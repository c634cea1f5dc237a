"""Handlers of export and import (contract tag `integrations`).

An import is planned first, off the event loop (server/transfer/plan.py, todoist.py: every
check, new ids), then written in one transaction holding the user's placement lock and task
count (the order every writer of both takes): the quotas are counted with no other create in
between, and the lists, tasks, trashed tasks and comments go in as statements of a thousand
rows at most (server/transfer/write.py: each under the statement timeout, the COMMIT left with
nothing to stamp). Any refusal, a
malformed item or a quota, comes before the first write, and a failure after it rolls the whole
import back. A dry run plans and counts the same, and writes nothing.

Planning takes up to 10 s of a thread (plan.PLAN_SECONDS: recurrence rules), so it runs on a
thread of its own per worker, a client's one import at a time and at most IMPORT_QUEUE waiting
(past either, 503 at once): on the shared threads of asyncio.to_thread, six imports at once
held every one of them, and every account's feeds, exports and large bodies waited."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import orjson

from server.clients import client_key
from server.contract.context import Request
from server.contract.fallback import Fallback
from server.contract.reply import Reply
from server.db.executor import Executor, Row
from server.errors import QuotaExceeded, ServiceUnavailable
from server.slots import Slots
from server.tasks.idempotency import once
from server.transfer.export import document
from server.transfer.plan import Plan, plan_export
from server.transfer.todoist import plan_csv
from server.transfer.write import write_plan

DEFAULT_LIST_NAME = "Todoist"
IMPORT_QUEUE = 4  # imports per worker being checked or waiting to be, a client's at most one
EXPORTS_AT_ONCE = 2  # exports per worker being made, an account's at most one
EXPORT_WAIT = 10  # seconds an export waits for its turn past EXPORTS_AT_ONCE, then 503
EXPORT_RETRY = 2  # seconds (Retry-After): an account of 50,000 tasks is exported in about one
EXPORTS_UNSENT = 128 * 1024 * 1024  # bytes of exports made, not sent yet, per worker: 503 past it
EXPORTS_PER_CLIENT = 2  # exports of one client (address) at once, made and not sent yet


class ImportBusy(ServiceUnavailable):
    slug = "import-busy"
    default_detail = "Another import is being checked; retry shortly."


def import_planner() -> Fallback:
    return Fallback(IMPORT_QUEUE, ImportBusy, "import-plan")


class ExportBusy(ServiceUnavailable):
    slug = "export-busy"
    default_detail = "This account's export is being made, or too many are; retry shortly."


def export_slots() -> Slots:
    """A worker makes an account's export one at a time, until it is sent, and EXPORTS_AT_ONCE
    in all (reading it and encoding it on a thread; past that an export waits its turn): an
    export holds its whole document in memory, some 180 MB at its peak for an account of
    50,000 tasks (six at once held a worker at 740 MB, and 430 MB after), and its 22 MB until
    sent (EXPORTS_UNSENT in all)."""
    return Slots(
        EXPORTS_AT_ONCE,
        EXPORT_WAIT,
        EXPORTS_UNSENT,
        EXPORTS_PER_CLIENT,
        lambda: ExportBusy(EXPORT_RETRY),
    )


async def export_account(request: Request) -> Reply:
    queries, db, user_id = request.app.ctx.queries, request.ctx.db, request.ctx.user_id

    async def read() -> tuple[list[Row], list[dict[str, Any]], list[Row], Any]:
        async with db.transaction() as conn:
            lists = [dict(row) async for row in queries.export_lists(conn, user_id=user_id)]
            tasks = [dict(row) async for row in queries.export_tasks(conn, user_id=user_id)]
            comments = [row async for row in queries.export_comments(conn, user_id=user_id)]
        return lists, tasks, comments, request.app.ctx.clock()

    exports = request.app.ctx.exports
    return Reply(await exports.run(user_id, client_key(request), read, _encoded, request.ctx))


def _encoded(read: tuple[list[Row], list[dict[str, Any]], list[Row], Any]) -> bytes:
    """The document as JSON (an account's 50,000 tasks take a while: off the event loop)."""
    return orjson.dumps(document(*read), option=orjson.OPT_UTC_Z)


async def import_account(request: Request) -> Reply:
    queries, db, user_id = request.app.ctx.queries, request.ctx.db, request.ctx.user_id
    body, query = request.ctx.body, request.ctx.query
    planner, client = request.app.ctx.planner, client_key(request)
    if isinstance(body, str):  # text/csv: a Todoist export
        user = await queries.get_user(db, id=user_id)
        name = (query.get("list_name") or DEFAULT_LIST_NAME).strip()
        plan = await planner.request(client, plan_csv, body, name, user["timezone"])
    else:
        plan = await planner.request(client, plan_export, body)
    dry_run = bool(query.get("dry_run"))

    async def work(conn: Executor) -> tuple[None, dict[str, Any]]:
        return None, await _imported(conn, request, plan, dry_run)

    key = request.ctx.header_params.get("Idempotency-Key")
    if key is None or dry_run:
        async with db.transaction() as conn:
            return Reply((await work(conn))[1])
    what = orjson.dumps([request.content_type, query.get("list_name")])
    digest = await asyncio.to_thread(_digest, what, request.body)  # up to 32 MiB
    return Reply(await once(db, queries, user_id, key, digest, work))


def _digest(what: bytes, body: bytes) -> bytes:
    """What tells a retry of an import from another import under the same key."""
    digest = hashlib.sha256(what)
    digest.update(b"\n")
    digest.update(body)
    return digest.digest()


async def _imported(conn: Executor, request: Request, plan: Plan, dry_run: bool) -> dict[str, Any]:
    """The summary of the import, written (or, in a dry run, only counted) in `conn`'s
    transaction, under the locks every writer of lists and task counts takes first."""
    queries, user_id = request.app.ctx.queries, request.ctx.user_id
    settings = request.app.ctx.settings
    await queries.lock_placement(conn, **request.ctx.token)
    tasks = await queries.lock_task_count(conn, user_id=user_id) or 0
    room = await queries.import_room(conn, user_id=user_id)
    if room["lists"] + len(plan.lists) > settings.list_quota:
        raise QuotaExceeded(f"An account has at most {settings.list_quota} lists.")
    if tasks + len(plan.tasks) + len(plan.trashed) > settings.task_quota:
        raise QuotaExceeded(f"An account has at most {settings.task_quota} tasks.")
    if plan.busiest > settings.comment_quota:
        raise QuotaExceeded(f"A task has at most {settings.comment_quota} comments.")
    if not dry_run:
        await write_plan(conn, queries, user_id, plan, str(room["inbox_id"]))
    return _summary(plan, room, dry_run)


def _summary(plan: Plan, room: Row, dry_run: bool) -> dict[str, Any]:
    made = [
        {"id": None if dry_run else row["id"], "name": row["name"], "is_inbox": False}
        for row in plan.lists
    ]
    inbox = {"id": room["inbox_id"], "name": room["inbox_name"], "is_inbox": True}
    return {
        "dry_run": dry_run,
        "lists": ([inbox] if plan.inbox_name is not None else []) + made,
        "tasks": len(plan.tasks),
        "trashed": len(plan.trashed),
        "comments": len(plan.comments),
        "skipped": plan.skipped,
    }
