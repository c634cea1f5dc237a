"""A task that is not there: the one 404 of every task operation, and, after a write under
If-Match matched nothing, whether the task is missing (404) or at another version (412)."""

from __future__ import annotations

from typing import NoReturn

from server.db.queries import Conn, Queries
from server.errors import NotFound, PreconditionFailed
from server.http.preconditions import etag

NO_TASK = "No such task."  # a missing task and another user's alike


async def missing_or_stale(db: Conn, queries: Queries, user_id: str, task_id: str) -> NoReturn:
    version = await queries.task_version(db, user_id=user_id, id=task_id)
    if version is None:
        raise NotFound(NO_TASK)
    raise PreconditionFailed(etag(version))
