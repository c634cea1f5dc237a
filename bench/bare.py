"""The bare reference server of `make bench`: a measuring stick, never a service.

Sanic and asyncpg's own pool, of the service's size (with its connection set-up, and no reset
round trip on release, as the service), on the same tables, running the service's own
statements from sql/ and server/tasks/page_sql.py for the workloads it answers: get, list
(first pages, created desc), create, update and complete, their parameters made by the
service's own functions of server/tasks/fields.py (tests/test_bench_bare.py keeps each of them
answering 2xx). None of the service's own layers: no token check (the user is the one in the
path, the session the one the bearer token names, read unverified; the account check inside
each statement still runs, as part of the statement), no validation, no ETag or If-Match, no
cursor, no security headers, no access log, no error shape. What the service costs over this
is what its own layers cost.

    DATABASE_URL=postgresql://... HOST=127.0.0.1 PORT=8080 python -m bench.bare
"""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
from sanic import HTTPResponse, Request, Sanic

from bench.pooled import pooled_app
from server.app import load_contract, load_plans
from server.config import load_settings
from server.db.pool import init_connection
from server.db.queries import load_queries
from server.tasks import fields as task_fields
from server.tasks import page_sql
from server.tasks.fields import task_body

FIRST_PAGE = page_sql.Shape("created", "desc", keyset=False, filters=())
NOT_FOUND = HTTPResponse(status=404)


def json(body: Any, status: int = 200) -> HTTPResponse:
    data = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    return HTTPResponse(data, status, content_type="application/json")


def task(row: Any, status: int = 200) -> HTTPResponse:
    return NOT_FOUND if row["id"] is None else json(task_body(row), status)


def session(request: Request) -> str:
    """The login family the bearer token names, read without checking the token (the statement
    checks that the family is live, as the service's does)."""
    payload = request.headers["authorization"].partition(" ")[2].split(".")[1]
    return str(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


def token(request: Request, user_id: str, operation_id: str) -> dict[str, Any]:
    """The account check's parameters, and the role the contract declares for the operation
    (its statement checks list access with it, as the service's does)."""
    required_role = load_contract().by_id[operation_id].required_role
    return {
        "user_id": user_id,
        "session_id": session(request),
        "token_hash": None,
        "required_role": required_role,
    }


def create_bare(dsn: str, pool_size: int, task_quota: int) -> Sanic:
    app = pooled_app("bench_bare", dsn, pool_size, init_connection)
    queries = load_queries()
    page_statement = page_sql.statement(FIRST_PAGE)
    # TaskCreate's defaults filled in as the service's validation fills them (openapi.yaml's).
    _, with_defaults = load_plans()["create_task"].body_types["application/json"]

    @app.get("/api/<user_id>/tasks/<task_id>")
    async def get_task(request: Request, user_id: str, task_id: str) -> HTTPResponse:
        async with app.ctx.pool.acquire() as conn:
            return task(
                await queries.get_task(conn, **token(request, user_id, "get_task"), id=task_id)
            )

    @app.get("/api/<user_id>/tasks")
    async def list_tasks(request: Request, user_id: str) -> HTTPResponse:
        limit = int(request.args.get("limit", 20))
        async with app.ctx.pool.acquire() as conn:
            rows = await conn.fetch(page_statement, user_id, limit + 1, 0, session(request), None)
        found = rows if rows[0]["id"] is not None else []
        tasks = [task_body(row) for row in found[:limit]]
        body = {"tasks": tasks, "total": rows[0]["total"], "limit": limit, "offset": 0}
        return json({**body, "next_cursor": None})

    @app.post("/api/<user_id>/tasks")
    async def create_task(request: Request, user_id: str) -> HTTPResponse:
        fields = task_fields.placed_fields(with_defaults(orjson.loads(request.body)))
        async with app.ctx.pool.acquire() as conn:
            row = await queries.create_task(
                conn,
                **token(request, user_id, "create_task"),
                quota=task_quota,
                alone=True,
                **fields,
            )
        return task(row, 201)

    @app.patch("/api/<user_id>/tasks/<task_id>")
    async def update_task(request: Request, user_id: str, task_id: str) -> HTTPResponse:
        fields = task_fields.patched_fields(orjson.loads(request.body))
        return await _update(request, user_id, task_id, fields)

    @app.patch("/api/<user_id>/tasks/<task_id>/complete")
    async def complete_task(request: Request, user_id: str, task_id: str) -> HTTPResponse:
        return await _update(request, user_id, task_id, task_fields.completed_fields(None))

    async def _update(
        request: Request, user_id: str, task_id: str, fields: dict[str, Any]
    ) -> HTTPResponse:
        async with app.ctx.pool.acquire() as conn:
            row = await queries.update_task(
                conn,
                **token(request, user_id, "update_task"),
                id=task_id,
                versions=None,
                advance=None,
                **fields,
            )
        return task(row)

    return app


def main() -> None:
    settings = load_settings(os.environ)  # the pool size the service would have
    assert settings.database_url, "DATABASE_URL is needed"
    app = create_bare(settings.database_url, settings.db_pool_size, settings.task_quota)
    host, port = settings.host, settings.port
    app.prepare(host=host, port=port, single_process=True, access_log=False, motd=False)
    Sanic.serve_single(primary=app)


if __name__ == "__main__":
    main()
