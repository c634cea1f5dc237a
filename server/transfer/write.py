"""An import's writes (SPEC §13), in the caller's transaction: the lists, then the tasks, the
trashed tasks and the comments of a Plan, in statements of at most CHUNK rows.

Each statement stamps the revisions of what it wrote at its own end (stamp_each_statement),
under the server's statement_timeout, rather than all of them at COMMIT: PostgreSQL runs a
COMMIT's deferred triggers after it has disabled the statement_timeout, so 10,000 tasks'
revisions stamped there (2.4 s on a loaded 2-core machine, an UPDATE of every row) were bounded
only by asyncpg's command_timeout, whose bare TimeoutError answered a valid import 503
("database unavailable"). Stamped here, the COMMIT only flushes, and no statement comes near
the timeout (a chunk and its stamp take a fifth of it under load)."""

from __future__ import annotations

from typing import Any

from server.db.executor import Executor
from server.db.queries import Queries
from server.transfer.plan import INBOX, Plan

CHUNK = 1_000  # rows per statement


async def write_plan(
    conn: Executor, queries: Queries, user_id: str, plan: Plan, inbox_id: str
) -> None:
    count = len(plan.lists) + len(plan.order)
    positions = iter(await queries.import_positions(conn, count=count) if count else [])
    for made in plan.lists:
        made["position"] = next(positions)
    rows = {"tasks": plan.tasks, "trashed": plan.trashed}
    for kind, index in plan.order:  # the document's order: each sibling group's
        row = rows[kind][index]
        row["position"] = next(positions)
        if row["list_id"] == INBOX:
            row["list_id"] = inbox_id
    hidden = [row for row in plan.comments if row["deleted_at"] is not None]
    for chunk in _chunks(hidden):  # kept out of the feed as their tasks are: revision 0
        await queries.import_comments(conn, user_id=user_id, comments=chunk)
        await queries.hide_imported_trash(conn, user_id=user_id, ids=[c["id"] for c in chunk])
    await queries.stamp_each_statement(conn)
    if plan.lists:
        await queries.import_lists(conn, user_id=user_id, lists=plan.lists)
    for chunk in _chunks(plan.tasks):  # a parent's chunk comes before its children's
        await queries.import_tasks(conn, user_id=user_id, tasks=chunk)
    for chunk in _chunks(plan.trashed):
        await queries.import_trash(conn, user_id=user_id, tasks=chunk)
    for chunk in _chunks([row for row in plan.comments if row["deleted_at"] is None]):
        await queries.import_comments(conn, user_id=user_id, comments=chunk)


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]
