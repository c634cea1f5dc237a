"""The hot statements keep one plan per connection (migration 0060): PostgreSQL plans a
prepared statement again on every call when the plans it makes for each call's values cost less
than its generic one, and that planning was most of a create's time in the database."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import asyncpg
import psycopg

from server.db.pool import init_connection
from server.db.queries import AccessParams, TokenParams, load_queries
from server.tasks.fields import patched_fields, placed_fields
from tests.conftest import start_session

# PostgreSQL makes a statement's first five plans for the call's values, then decides: the
# counted calls come after five of each kind of create.
CALLS, WARM = 24, 12


def _a_crowd(sql: psycopg.Connection[Any]) -> None:
    """Accounts, lists and members enough that the planner's estimates are a service's, not
    an empty database's (an empty list_members made the generic plans look as cheap)."""
    sql.execute(
        "INSERT INTO users (email, name, password_hash)"
        " SELECT 'crowd-' || i || '@example.org', 'crowd', 'x' FROM generate_series(1, 300) AS i"
    )
    sql.execute(
        "INSERT INTO lists (user_id, name)"
        " SELECT id, 'shared' FROM users WHERE email LIKE 'crowd-%' ORDER BY email LIMIT 150"
    )
    sql.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role)"
        " SELECT l.id, l.user_id, m.id, 'editor'"
        "   FROM lists AS l JOIN users AS m ON m.email LIKE 'crowd-%' AND m.id <> l.user_id"
        "  WHERE NOT l.is_inbox AND (hashtext(l.id::text || m.id::text) % 20) = 0"
    )
    sql.execute("ANALYZE users, lists, list_members, task_counts, list_counts, login_families")


async def _plannings(dsn: str, user_id: str, session_id: str, list_id: str) -> dict[str, int]:
    """How many plans each operation's calls made after the first WARM, on one connection:
    the statement's own and those of the functions and triggers it runs. The creates take
    turns: an undated task in the inbox, an all-day one in the list `list_id`."""
    queries = load_queries()
    conn = await asyncpg.connect(dsn)
    counted: dict[str, int] = {}
    label = ""

    def note(_: Any, message: Any) -> None:
        if "PLANNER STATISTICS" in message.message and label:
            counted[label] = counted.get(label, 0) + 1

    try:
        await init_connection(conn)
        conn.add_log_listener(note)
        await conn.execute("SET log_planner_stats = on; SET client_min_messages = log")
        token: TokenParams = {"user_id": user_id, "session_id": session_id, "token_hash": None}
        writer: AccessParams = {**token, "required_role": "editor"}
        body = {"title": "planned", "priority": "high", "tags": ["a"], "is_completed": False}
        turns = [
            placed_fields(body),
            placed_fields({**body, "list_id": list_id, "due_on": date(2027, 1, 31)}),
        ]
        task_ids: list[str] = []

        async def create() -> None:
            created = turns[len(task_ids) % 2]
            row = await queries.create_task(conn, **writer, quota=10_000, alone=True, **created)
            task_ids.append(str(row["id"]))

        async def get() -> None:
            row = await queries.get_task(conn, **token, id=task_ids[0])
            assert row["id"] is not None

        async def update() -> None:
            row = await queries.update_task(
                conn,
                **writer,
                id=task_ids[-1],
                versions=None,
                advance=None,
                **patched_fields({"priority": "low"}),
            )
            assert row["id"] is not None

        for name, call in (("create", create), ("get", get), ("update", update)):
            for n in range(CALLS):
                label = name if n >= WARM else ""
                await call()
            counted.setdefault(name, 0)
        await asyncio.sleep(0.05)  # the last notice
    finally:
        await conn.close()
    return counted


def test_a_create_a_get_and_an_update_are_planned_once(
    database_url: str, sql: psycopg.Connection[Any]
) -> None:
    """After its first calls on a connection, a create (in the inbox or a list of the owner's,
    undated or all-day), a GET and a PATCH of a task plan nothing, in their statements or in
    what those run (list_role, set_task_due_at), for an owner who shares no list (a sharing
    owner's commit stamp, stamp_revisions of migration 0058, still plans a statement each
    time: not changed here). Before 0060 and create_task's lookup of its list by key, the
    counted calls planned 36 times (creates: the statement, list_role twice, the due's
    trigger), 24 (GETs: list_role twice) and 36 (PATCHes)."""
    _a_crowd(sql)
    row = sql.execute(
        "INSERT INTO users (email, name, password_hash)"
        " VALUES ('planner@example.org', 'p', 'x') RETURNING id::text"
    ).fetchone()
    assert row is not None
    session = start_session(sql, row[0])
    own = sql.execute(
        "INSERT INTO lists (user_id, name) VALUES (%s, 'own') RETURNING id::text", (row[0],)
    ).fetchone()
    assert own is not None
    assert asyncio.run(_plannings(database_url, row[0], session, own[0])) == {
        "create": 0,
        "get": 0,
        "update": 0,
    }
