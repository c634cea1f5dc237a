"""The plain reference server of `make bench`: what serving the Task shape takes with the simplest
SQL a careful person would write, so that the service's throughput over its throughput is what
the service's features cost, in one ratio.

A table of its own (plain_tasks: the Task's columns, its primary key, the one index its page
reads, no trigger), filled with the same tasks as the service's; Sanic and asyncpg's own pool of
the service's default size. GET one task by id and owner; the first page of a user's tasks,
newest first, with `total` counted; POST a task into the user's inbox, last. No account check
(the user is the one in the path), no validation (defaults filled in, nothing refused), no
revision, quota, count, placement or reminder, no ETag, log or error shape.

It imports nothing of the service, so it stays the same while the service changes: a ratio
against it means the same from one version of the service to the next.

    DATABASE_URL=postgresql://... HOST=127.0.0.1 PORT=8080 python -m bench.plain
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import psycopg
from sanic import HTTPResponse, Request, Sanic

from bench.pooled import pooled_app

POOL_SIZE = 10  # the service's default DATABASE_POOL_SIZE
COLUMNS = (
    "id, user_id, title, description, is_completed, completed_at, priority, due_date, tags,"
    " list_id, parent_id, position, created_at, updated_at, version, due_on, recurrence,"
    " last_completed_at, reminders, created_by, assignee_id, completed_by"
)
SCHEMA = """
DROP TABLE IF EXISTS plain_tasks;
DROP SEQUENCE IF EXISTS plain_positions;
CREATE SEQUENCE plain_positions;
CREATE TABLE plain_tasks (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title             text        NOT NULL,
    description       text,
    is_completed      boolean     NOT NULL DEFAULT false,
    completed_at      timestamptz,
    priority          text        NOT NULL DEFAULT 'medium',
    due_date          timestamptz,
    tags              text[]      NOT NULL DEFAULT '{}',
    list_id           uuid        NOT NULL,
    parent_id         uuid,
    position          text        NOT NULL
                      DEFAULT lpad(to_hex(nextval('plain_positions')), 16, '0'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           integer     NOT NULL DEFAULT 1,
    due_on            date,
    recurrence        jsonb,
    last_completed_at timestamptz,
    reminders         jsonb       NOT NULL DEFAULT '[]',
    created_by        uuid,
    assignee_id       uuid,
    completed_by      uuid
);
CREATE INDEX plain_tasks_user_created_idx ON plain_tasks (user_id, created_at, id);
"""
FIELDS = COLUMNS.split(", ")
# Statements of fixed text: COLUMNS is the constant above.
COPY = f"INSERT INTO plain_tasks ({COLUMNS}) SELECT {COLUMNS} FROM tasks WHERE user_id = ANY(%s)"  # noqa: S608
GET = f"SELECT {COLUMNS} FROM plain_tasks WHERE id = $1 AND user_id = $2"  # noqa: S608
PAGE = f"""
SELECT head.total, page.*
  FROM (SELECT count(*) AS total FROM plain_tasks WHERE user_id = $1) AS head
  LEFT JOIN (SELECT {COLUMNS} FROM plain_tasks WHERE user_id = $1
              ORDER BY created_at DESC, id DESC LIMIT $2) AS page ON true
"""  # noqa: S608
CREATE = f"""
INSERT INTO plain_tasks (user_id, list_id, title, description, priority, due_date, tags,
                         is_completed, completed_at)
SELECT $1, id, $2, $3, $4, $5, $6, $7, CASE WHEN $7 THEN now() END
  FROM lists WHERE user_id = $1 AND is_inbox
RETURNING {COLUMNS}
"""  # noqa: S608
# PLAIN_SIGNAL=1 (bench.ab's label `plain+signal`): the same INSERT with the one thing SPEC §7
# asks of every write besides, a NOTIFY in its transaction (to a channel no one listens on), so
# "what the signal alone costs" is one ratio. Off by default: the reference stays as it was.
CREATE_SIGNALLED = (
    f"WITH created AS ({CREATE}) SELECT created.*,"  # noqa: S608 (fixed text)
    " pg_notify('plain_events', created.user_id::text) FROM created"
)
NOT_FOUND = HTTPResponse(status=404)


def create_table(conn: psycopg.Connection[Any], user_ids: list[str]) -> None:
    """plain_tasks (made afresh), holding the tasks of these users as the service's tables
    hold them."""
    conn.execute(SCHEMA)
    conn.execute(COPY, (user_ids,))
    conn.execute("VACUUM ANALYZE plain_tasks")


def drop_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DROP TABLE IF EXISTS plain_tasks; DROP SEQUENCE IF EXISTS plain_positions")


async def _codecs(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
        format="text",
    )


def _task(row: Any) -> dict[str, Any]:
    body = {**{name: row[name] for name in FIELDS}, "deleted_at": None}
    body["created_by"] = body["created_by"] or body["user_id"]  # null: made by the list's owner
    return body


def _json(body: Any, status: int = 200) -> HTTPResponse:
    data = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    return HTTPResponse(data, status, content_type="application/json")


def create_plain(dsn: str, pool_size: int = POOL_SIZE, signal: bool = False) -> Sanic:
    app = pooled_app("bench_plain", dsn, pool_size, _codecs)
    create = CREATE_SIGNALLED if signal else CREATE

    @app.get("/api/<user_id>/tasks/<task_id>")
    async def get_task(request: Request, user_id: str, task_id: str) -> HTTPResponse:
        row = await app.ctx.pool.fetchrow(GET, task_id, user_id)
        return NOT_FOUND if row is None else _json(_task(row))

    @app.get("/api/<user_id>/tasks")
    async def list_tasks(request: Request, user_id: str) -> HTTPResponse:
        limit = int(request.args.get("limit", 50))
        rows = await app.ctx.pool.fetch(PAGE, user_id, limit)
        tasks = [_task(row) for row in rows if row["id"] is not None]
        total = rows[0]["total"]
        return _json(
            {"tasks": tasks, "total": total, "limit": limit, "offset": 0, "next_cursor": None}
        )

    @app.post("/api/<user_id>/tasks")
    async def create_task(request: Request, user_id: str) -> HTTPResponse:
        body = orjson.loads(request.body)
        due = body.get("due_date")
        row = await app.ctx.pool.fetchrow(
            create,
            user_id,
            body["title"],
            body.get("description"),
            body.get("priority", "medium"),
            None if due is None else datetime.fromisoformat(due),
            body.get("tags", []),
            body.get("is_completed", False),
        )
        return NOT_FOUND if row is None else _json(_task(row), 201)

    return app


def main() -> None:
    dsn = os.environ["DATABASE_URL"]
    app = create_plain(dsn, signal=os.environ.get("PLAIN_SIGNAL") == "1")
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080"))
    app.prepare(host=host, port=port, single_process=True, access_log=False, motd=False)
    Sanic.serve_single(primary=app)


if __name__ == "__main__":
    main()
