"""The hot statements keep one plan per connection (migration 0060; the list page's statement,
server/tasks/page_sql.py): PostgreSQL plans a prepared statement again on every call when the
plans it makes for each call's values cost less than its generic one, and that planning was most
of a create's time in the database, and five times a list page's reading."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date
from typing import Any

import asyncpg
import psycopg

from server.config import Settings
from server.db.pool import init_connection
from server.db.queries import AccessParams, TokenParams, load_queries
from server.tasks import listing
from server.tasks.fields import patched_fields, placed_fields
from tests.conftest import start_session

# PostgreSQL makes a statement's first five plans for the call's values, then decides: the
# counted calls come after five of each kind of create, and six of each page.
CALLS, WARM = 24, 12
PAGE_SIZE = 20
FIRST_PAGE = {"limit": PAGE_SIZE, "status": "all", "sort": "created", "order": "desc"}


def _a_crowd(sql: psycopg.Connection[Any]) -> None:
    """Accounts, lists, members and tasks enough that the planner's estimates are a service's,
    not an empty database's (an empty list_members made the generic plans look as cheap)."""
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
    sql.execute(  # twenty accounts of 2,000 tasks each: a tenth of an account is 200 tasks
        "INSERT INTO tasks (user_id, list_id, title)"
        " SELECT l.user_id, l.id, 'crowd task ' || n"
        "   FROM lists AS l, generate_series(1, 2000) AS n"
        "  WHERE l.is_inbox AND l.user_id IN"
        "        (SELECT id FROM users WHERE email LIKE 'crowd-%' ORDER BY email LIMIT 20)"
    )
    # VACUUM too: autovacuum's own, due after so many rows, would change the statistics (and
    # so make every cached plan of those tables be planned again) while the calls are counted.
    sql.execute(
        "VACUUM ANALYZE users, lists, list_members, task_counts, list_counts, login_families, tasks"
    )


async def _plannings(
    settings: Settings, dsn: str, user_id: str, session_id: str, list_id: str
) -> dict[str, int]:
    """How many plans each operation's calls made after the first WARM, on one connection:
    the statement's own and those of the functions and triggers it runs. The creates take
    turns: an undated task in the inbox, an all-day one in the list `list_id`; the pages of the
    task list: the first, newest first (the default), soonest due and by title, and the page
    after the first (keyset); reads of /changes over ranges of different sizes."""
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

        firsts: tuple[dict[str, Any], ...] = (
            {},
            {"sort": "due_date", "order": "asc"},
            {"sort": "title"},
            {"list_id": list_id},
            {"list_id": list_id, "sort": "position", "order": "asc"},
        )
        pages = [
            listing.page_request(token, {**FIRST_PAGE, **query}, settings.jwt_secret)
            for query in firsts
        ]
        turns_of_pages = itertools.cycle(pages)

        async def page() -> None:
            if len(pages) == len(firsts):  # the page after the first (the creates made it)
                sql, args = pages[0].statement()
                last = (await conn.fetch(sql, *args))[PAGE_SIZE - 1]
                cursor = listing._cursor_after(pages[0], last, settings.jwt_secret)
                query = {**FIRST_PAGE, "cursor": cursor}
                pages.append(listing.page_request(token, query, settings.jwt_secret))
            sql, args = next(turns_of_pages).statement()
            rows = await conn.fetch(sql, *args)
            assert rows[0]["account_ok"], sql
            assert rows[0]["id"] is not None, sql

        sinces = itertools.cycle(range(20))

        async def changes() -> None:
            since = next(sinces)  # (ranges of different sizes)
            rows = queries.changes_after(
                conn, user_id=user_id, since=since, upto=since + 100, live_only=False, limit=100
            )
            assert [row async for row in rows]

        # (rounds: the pages take six turns, so thrice the calls warm each shape six times)
        calls = (
            ("create", create, 1),
            ("get", get, 1),
            ("update", update, 1),
            ("list page", page, 3),
            ("changes", changes, 1),
        )
        for name, call, rounds in calls:
            for n in range(CALLS * rounds):
                label = name if n >= WARM * rounds else ""
                await call()
            counted.setdefault(name, 0)
        await asyncio.sleep(0.05)  # the last notice
    finally:
        await conn.close()
    return counted


def test_a_create_a_get_an_update_a_list_page_and_a_read_of_changes_are_planned_once(
    settings: Settings, database_url: str, sql: psycopg.Connection[Any]
) -> None:
    """After its first calls on a connection, a create (in the inbox or a list of the owner's,
    undated or all-day), a GET and a PATCH of a task, a page of the task list (first or next,
    by any sort; of one small list newest first or in manual order) and a read of /changes
    plan nothing, in their statements or in what those run (list_role, set_task_due_at), for
    an owner who shares no list (a sharing owner's commit stamp, stamp_revisions of migration
    0058, still plans a statement each time, and a page of a list in another sort is planned
    for that list when PostgreSQL prices it lower: not changed here). Before the page's
    statement hid the list in the sorts whose index the list leads, each page of a small list
    was planned again (some 0.6 ms, twice its reading). Before 0060 and create_task's lookup
    of its list by key, the counted calls planned 36 times (creates: the statement, list_role
    twice, the due's trigger), 24 (GETs: list_role twice) and 36 (PATCHes); before the page's
    statement hid its caller, size and session from the planner, most pages (18 of 24);
    before /changes' statement did, every read (12)."""
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
