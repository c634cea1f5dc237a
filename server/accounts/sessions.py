"""Handlers of the signed-in account's sessions: its live login families, and ending one.

Ending a session ends its refresh tokens and its access tokens (they name it in `sid`)."""

from __future__ import annotations

from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import NotFound


async def list_sessions(request: Request) -> Reply:
    app, ctx = request.app, request.ctx
    rows = app.ctx.queries.list_sessions(request.ctx.db, user_id=ctx.user_id)
    sessions = [{**dict(row), "current": row["id"] == ctx.session_id} async for row in rows]
    return Reply({"sessions": sessions})


async def delete_session(request: Request) -> Reply:
    """204 once the session is ended; another account's, an unknown or an ended one is 404."""
    app, ctx = request.app, request.ctx
    async with request.ctx.db.transaction() as conn:
        await app.ctx.queries.lock_user(conn, id=ctx.user_id)
        ended = await app.ctx.queries.end_family(
            conn, user_id=ctx.user_id, id=ctx.path_params["session_id"]
        )
    if ended is None:
        raise NotFound("No such session.")
    return Reply(status=204)
