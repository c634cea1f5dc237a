"""Writes in bulk on statistics taken of emptied tables (reltuples 0 although rows were written
since: the suite's own database after each test's clean-up, a deployment's after a purge). The
commit's stamp and fan-out must stay linear in what they write whatever plan those statistics
give: a nested loop that reads a whole table again per written row made a sharing owner's commit
of 2,000 tasks run for minutes (a 503 in the service): the stamp's numbering (migration 0055)
and a sharing owner's fan-out (migration 0056), and the circle every commit of a sharing owner
finds, however many comments the owner holds (migration 0057)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from bench.database import seed_tasks
from server.access.tokens import issue_access_token
from server.config import Settings
from tests.conftest import start_session
from tests.live import fresh_database
from tests.support import Api
from tests.test_export_import import ten_thousand

OWNED = 2_000  # an owner's all-day tasks in a shared list, a comment each
COMMENTED = 3_000  # the comments on one task of a shared list
QUOTA_FULL = 999  # the comments on each of 3 tasks of a shared list: one short of the quota
TABLES = ("lists", "list_members", "tasks", "comments", "tombstones", "member_changes")


def user(conn: psycopg.Connection[Any], name: str) -> str:
    row = conn.execute(
        "INSERT INTO users (email, name, password_hash) VALUES (%s, %s, 'x') RETURNING id::text",
        (f"{name}@example.org", name),
    ).fetchone()
    assert row is not None
    return str(row[0])


def shared_list(conn: psycopg.Connection[Any], owner: str, member: str) -> str:
    row = conn.execute(
        "INSERT INTO lists (user_id, name, position) VALUES (%s, 'Shared', next_position())"
        " RETURNING id::text",
        (owner,),
    ).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role)"
        " VALUES (%s, %s, %s, 'editor')",
        (row[0], owner, member),
    )
    return str(row[0])


def fill(conn: psycopg.Connection[Any], owner: str, list_id: str, count: int) -> None:
    """`count` all-day tasks in the list, a comment on each."""
    seed_tasks(conn, owner, count)
    with conn.transaction():
        conn.execute(
            "UPDATE tasks SET list_id = %s, due_date = NULL, due_on = '2031-01-15'"
            " WHERE user_id = %s",
            (list_id, owner),
        )
        conn.execute(
            "INSERT INTO comments (user_id, task_id, author_id, body)"
            " SELECT user_id, id, user_id, 'seen' FROM tasks WHERE user_id = %s",
            (owner,),
        )


def commented(conn: psycopg.Connection[Any], owner: str, list_id: str, count: int) -> str:
    """A task of the owner's in the list, with `count` comments committed at once after it."""
    seed_tasks(conn, owner, 1)
    row = conn.execute(  # the task just seeded: the owner's last stamped
        "SELECT id::text FROM tasks WHERE user_id = %s ORDER BY revision DESC LIMIT 1", (owner,)
    ).fetchone()
    assert row is not None
    conn.execute("UPDATE tasks SET list_id = %s WHERE id = %s", (list_id, row[0]))
    conn.execute(
        "INSERT INTO comments (user_id, task_id, author_id, body)"
        " SELECT %s, %s, %s, 'seen ' || n FROM generate_series(1, %s) AS n",
        (owner, row[0], owner, count),
    )
    return str(row[0])


def signed_in(conn: psycopg.Connection[Any], settings: Settings, user_id: str) -> dict[str, str]:
    """The headers of a fresh session of the account, for an app on `settings`."""
    session = start_session(conn, user_id)
    return {"Authorization": f"Bearer {issue_access_token(settings, user_id, session)}"}


def emptied(admin_dsn: str, name: str) -> str:
    """A new database whose tables held shared tasks, comments and fan-out entries, were emptied,
    then analyzed: its statistics say they are empty, and stay so (autovacuum off for them)."""
    dsn = fresh_database(admin_dsn, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        before, member = user(conn, "before"), user(conn, "member-before")
        fill(conn, before, shared_list(conn, before, member), 300)
        conn.execute("DELETE FROM users WHERE id IN (%s, %s)", (before, member))
        conn.execute("ANALYZE")
    return dsn


@pytest.mark.slow
def test_an_import_answers_200_on_statistics_of_emptied_tables(
    admin_dsn: str, settings: Settings, make_api: Callable[..., Api]
) -> None:
    """The commit stamp's numbering, planned on them, was a nested loop that numbered the
    waiting rows again for every row of the table: each of an import's chunks took longer than
    the last, and a valid import of 10,000 tasks answered 503 at the 5 s statement timeout (the
    suite's own database, emptied after each test, was so when a 5,000-task import failed)."""
    dsn = emptied(admin_dsn, "emptied_import")
    fresh = dataclasses.replace(settings, database_url=dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        importer = user(conn, "importer")
        headers = signed_in(conn, fresh, importer)
    with make_api(fresh) as api:
        response = api.post(
            f"/api/{importer}/import", json=ten_thousand(str(uuid.uuid4())), headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["tasks"] == 10_000


def test_a_sharing_owners_bulk_write_commits_on_statistics_of_emptied_tables(
    admin_dsn: str, settings: Settings, make_api: Callable[..., Api]
) -> None:
    """A new zone moves the due of each of the owner's 2,000 all-day tasks (one UPDATE): every
    task and its comment fan out to the list's member at the commit."""
    dsn = emptied(admin_dsn, "emptied_shared")
    with psycopg.connect(dsn, autocommit=True) as conn:
        owner, member = user(conn, "owner"), user(conn, "member")
        list_id = shared_list(conn, owner, member)
        fill(conn, owner, list_id, OWNED)
        held = conn.execute(
            "SELECT count(*) FROM member_changes WHERE member_id = %s AND op = 'upsert'",
            (member,),
        ).fetchone()
        assert held == (1 + 2 * OWNED,)  # the list, its tasks and their comments
        revision = conn.execute("SELECT revision FROM users WHERE id = %s", (member,)).fetchone()
    fresh = dataclasses.replace(settings, database_url=dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        headers = signed_in(conn, fresh, owner)
    with make_api(fresh) as api:
        moved = api.patch("/api/me", json={"timezone": "Asia/Tokyo"}, headers=headers)
        assert moved.status_code == 200, moved.text
    with psycopg.connect(dsn, autocommit=True) as conn:
        after = conn.execute("SELECT revision FROM users WHERE id = %s", (member,)).fetchone()
        assert revision is not None
        assert after == (revision[0] + OWNED,)  # each moved task reached the member, once


def test_an_edit_of_a_shared_task_with_many_comments_commits_on_statistics_of_emptied_tables(
    admin_dsn: str, settings: Settings, make_api: Callable[..., Api]
) -> None:
    """An edit of a shared task with 3,000 comments (more than the API lets a task have: made
    in SQL) ran stamp_circle twice, each reading all the owner's comments again per entry of
    member_changes, and fan_out's branches for the task's comments: 8-14 s, a 503 once asyncpg
    gave up on the COMMIT (migration 0057: 1.4 s, fan_out's part left, see its comment)."""
    dsn = emptied(admin_dsn, "emptied_commented")
    with psycopg.connect(dsn, autocommit=True) as conn:
        owner, member = user(conn, "owner"), user(conn, "member")
        task_id = commented(conn, owner, shared_list(conn, owner, member), COMMENTED)
        held = conn.execute(
            "SELECT count(*) FROM member_changes WHERE member_id = %s AND op = 'upsert'",
            (member,),
        ).fetchone()
        assert held == (2 + COMMENTED,)  # the list, its task and the task's comments
        revision = conn.execute("SELECT revision FROM users WHERE id = %s", (member,)).fetchone()
    fresh = dataclasses.replace(settings, database_url=dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        headers = signed_in(conn, fresh, owner)
    with make_api(fresh) as api:
        edited = api.patch(
            f"/api/{owner}/tasks/{task_id}", json={"title": "Renamed"}, headers=headers
        )
        assert edited.status_code == 200, edited.text
    with psycopg.connect(dsn, autocommit=True) as conn:
        after = conn.execute("SELECT revision FROM users WHERE id = %s", (member,)).fetchone()
        assert revision is not None
        assert after == (revision[0] + 1,)  # the task; the member holds its comments already


@pytest.mark.parametrize(
    ("write", "status"), [("a comment on a commented task", 201), ("a title edit of another", 200)]
)
def test_a_few_row_write_of_an_owner_with_many_comments_commits_on_statistics_of_emptied_tables(
    admin_dsn: str, settings: Settings, make_api: Callable[..., Api], write: str, status: int
) -> None:
    """Every commit of a sharing owner finds its circle (stamp_circle) twice: whoever holds a
    row it wrote was a nested loop over all of member_changes that read all the owner's
    comments again for each entry. Within the comment quota (2,997 comments), a comment added
    or another task's title edited answered 503 when asyncpg gave up on the COMMIT 6 s in (the
    server's 5 s statement timeout does not bound a commit's deferred triggers)."""
    dsn = emptied(admin_dsn, "emptied_few_rows")
    with psycopg.connect(dsn, autocommit=True) as conn:
        owner, member = user(conn, "owner"), user(conn, "member")
        list_id = shared_list(conn, owner, member)
        task_id = commented(conn, owner, list_id, QUOTA_FULL)
        for _ in range(2):
            commented(conn, owner, list_id, QUOTA_FULL)
        row = conn.execute(
            "INSERT INTO tasks (user_id, list_id, title, position)"
            " VALUES (%s, %s, 'Plain', next_position()) RETURNING id::text",
            (owner, list_id),
        ).fetchone()
        assert row is not None
        revision = conn.execute("SELECT revision FROM users WHERE id = %s", (member,)).fetchone()
    fresh = dataclasses.replace(settings, database_url=dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        headers = signed_in(conn, fresh, owner)
    with make_api(fresh) as api:
        if write == "a comment on a commented task":
            response = api.post(
                f"/api/{owner}/tasks/{task_id}/comments", json={"body": "New"}, headers=headers
            )
        else:
            response = api.patch(
                f"/api/{owner}/tasks/{row[0]}", json={"title": "Renamed"}, headers=headers
            )
        assert response.status_code == status, response.text
    with psycopg.connect(dsn, autocommit=True) as conn:
        after = conn.execute("SELECT revision FROM users WHERE id = %s", (member,)).fetchone()
        assert revision is not None
        assert after == (revision[0] + 1,)  # the comment, or the task: one row reached the member


def test_the_bulk_twins_are_the_functions_they_copy(sql: psycopg.Connection[Any]) -> None:
    """Migration 0056 made fan_out_in_bulk and stamp_circle_in_bulk from fan_out and
    stamp_circle: a later change to either must make its twin again (as 0057 does)."""
    rows = sql.execute(
        "SELECT proname, prosrc, proconfig FROM pg_proc WHERE proname IN"
        " ('fan_out', 'fan_out_in_bulk', 'stamp_circle', 'stamp_circle_in_bulk')"
    ).fetchall()
    found = {name: (source, config) for name, source, config in rows}
    for name in ("fan_out", "stamp_circle"):
        assert found[f"{name}_in_bulk"][0] == found[name][0], f"{name}_in_bulk differs"
        assert found[f"{name}_in_bulk"][1] == ["enable_nestloop=off"]
        assert found[name][1] is None
