"""The hot statements keep one plan per connection (migration 0060, and the pool's
plan_cache_mode): PostgreSQL plans a prepared statement again on every call when the plans it
makes for each call's values cost less than its generic one, and that planning was most of a
create's time in the database, and five times a list page's reading. Every named statement's
plan for any values reads through an index."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import asyncpg
import psycopg

from server.config import Settings
from server.db.pool import connect_options, init_connection
from server.db.queries import AccessParams, Queries, TokenParams, load_queries
from server.tasks import listing
from server.tasks.fields import patched_fields, placed_fields
from tests.conftest import start_session

# PostgreSQL makes a statement's first five plans for the call's values, then decides: the
# counted calls come after five of each kind of create.
CALLS, WARM = 24, 12
FIRST_PAGE = {"limit": 20, "status": "all", "sort": "created", "order": "desc"}  # the defaults


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


async def _plannings(
    settings: Settings, dsn: str, user_id: str, session_id: str, list_id: str
) -> dict[str, int]:
    """How many plans each operation's calls made after the first WARM, on one connection
    opened as the service's pool opens one: the statement's own and those of the functions and
    triggers it runs. The creates take turns: an undated task in the inbox, an all-day one in
    the list `list_id`; the list pages: the first page of every task, of one list's, and of
    one list's top level (their totals kept), and of the completed ones (counted)."""
    queries = load_queries()
    conn = await asyncpg.connect(dsn, **connect_options(settings))
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

        pages = [
            listing.page_request(token, {**FIRST_PAGE, **query}, settings.jwt_secret).statement()
            for query in (
                {},
                {"list_id": list_id},
                {"list_id": list_id, "parent_id": "none"},
                {"status": "completed"},
            )
        ]

        turns_of_pages = itertools.cycle(pages)

        async def page() -> None:
            statement, args = next(turns_of_pages)
            rows = await conn.fetch(statement, *args)
            assert rows[0]["account_ok"], statement

        async def changes() -> None:
            rows = queries.changes_after(
                conn, user_id=user_id, since=0, upto=2**62, live_only=False, limit=100
            )
            assert [row async for row in rows]

        calls = (("create", create), ("get", get), ("update", update))
        for name, call in (*calls, ("list page", page), ("changes", changes)):
            for n in range(CALLS):
                label = name if n >= WARM else ""
                await call()
            counted.setdefault(name, 0)
        await asyncio.sleep(0.05)  # the last notice
    finally:
        await conn.close()
    return counted


def test_the_hot_operations_are_planned_once(
    settings: Settings, database_url: str, sql: psycopg.Connection[Any]
) -> None:
    """After its first calls on a connection, a create (in the inbox or a list of the owner's,
    undated or all-day), a GET and a PATCH of a task, a first page of the task list and a read
    of /changes plan nothing, in their statements or in what those run (list_role,
    set_task_due_at). Before 0060 and create_task's lookup of its list by key, the counted calls
    planned 36 times (creates: the statement, list_role twice, the due's trigger), 24 (GETs:
    list_role twice) and 36 (PATCHes); before the pool asked for generic plans, every page (a
    LIMIT given as a parameter: a plan for the call's 21 rows is priced below one for a tenth
    of the account's tasks) and every read of /changes was planned again."""
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
    assert asyncio.run(_plannings(settings, database_url, row[0], session, own[0])) == {
        "create": 0,
        "get": 0,
        "update": 0,
        "list page": 0,
        "changes": 0,
    }


# Statements whose plan reads a whole table by their nature, and the table: yoyo's record of the
# migrations applied (a few dozen rows), and the hourly purge of login families (ended, expired,
# or idle: conditions on three columns, any of which may hold).
WHOLE_TABLE_READS = {
    "applied_migrations": "_yoyo_migration",
    "purge_login_families": "login_families",
}
COMMANDS = {"stamp_each_statement"}  # SET CONSTRAINTS: nothing to plan


def _seq_scans(plan: dict[str, Any]) -> Iterator[str]:
    if plan["Node Type"] == "Seq Scan":
        yield plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from _seq_scans(child)


def test_every_named_statement_reads_through_an_index_in_its_plan_for_any_values(
    sql: psycopg.Connection[Any],
) -> None:
    """The pool keeps each statement's plan for any values from its first call (a generic
    plan), so every statement of sql/ must have one that finds its rows through an index: with
    sequential scans priced out, a Seq Scan left in `EXPLAIN (GENERIC_PLAN)` is a table no
    index can serve for unknown values, read whole on every call whatever the account. (Before
    its rewrite, clear_completed's DELETE chose its rows with a CASE on whether list_id was
    given, and its plan for any values read every account's tasks.)"""
    queries = load_queries()
    texts = {  # by the typed surface's names (aiosql adds a `_cursor` twin of each)
        getattr(queries, name).sql: name
        for name, function in vars(Queries).items()
        if inspect.isfunction(function) and not name.startswith("_")
    }
    pg = sql.pgconn
    whole: dict[str, list[str]] = {}
    for text, name in texts.items():
        if name in COMMANDS:
            continue
        pg.exec_(b"BEGIN")
        pg.exec_(b"SET LOCAL enable_seqscan = off")
        result = pg.exec_(b"EXPLAIN (GENERIC_PLAN, FORMAT JSON) " + text.encode())
        pg.exec_(b"ROLLBACK")
        assert result.status == psycopg.pq.ExecStatus.TUPLES_OK, (name, result.error_message)
        value = result.get_value(0, 0)
        assert value is not None
        plan = json.loads(value)[0]["Plan"]
        scanned = [t for t in _seq_scans(plan) if t != WHOLE_TABLE_READS.get(name)]
        if scanned:
            whole[name] = scanned
    assert len(texts) > 150  # every file of sql/ was read
    assert whole == {}
