"""The real migrations apply, roll back and re-apply cleanly, and the CLI drives them."""

from __future__ import annotations

import os
import uuid
from typing import Any

import psycopg
import pytest

from server import cli
from server.db import migrations
from server.db.embedded import create_database, with_database

SCRATCH = f"todo_migrations_{os.getpid()}"
TABLES = {
    "users",
    "lists",
    "tasks",
    "refresh_tokens",
    "login_failures",
    "idempotency_keys",
    "login_families",
    "signup_attempts",
    "purge_lease",
    "trash",
    "tombstones",
    "member_changes",
    "membership_ends",
    "fired_reminders",
    "webhooks",
    "task_counts",
    "reminder_times",
    "account_tokens",
    "mail_requests",
    "outbox",
    "push_subscriptions",
    "list_counts",
    "list_members",
    "calendar_feeds",
    "comments",
    "invitations",
    "access_tokens",
}


@pytest.fixture
def scratch_dsn(admin_dsn: str) -> str:
    create_database(admin_dsn, SCRATCH, fresh=True)
    return with_database(admin_dsn, SCRATCH)


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows} - {"_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock"}


@pytest.mark.slow
def test_migrations_apply_roll_back_and_reapply_cleanly(scratch_dsn: str) -> None:
    applied = migrations.apply(scratch_dsn)
    assert applied == sorted(migrations.migration_ids())
    assert _tables(scratch_dsn) == TABLES
    assert all(done for _, done in migrations.status(scratch_dsn))

    rolled = migrations.rollback(scratch_dsn, None)
    assert sorted(rolled) == sorted(applied)
    assert _tables(scratch_dsn) == set()

    assert migrations.apply(scratch_dsn) == applied
    assert _tables(scratch_dsn) == TABLES
    assert migrations.apply(scratch_dsn) == []


@pytest.mark.slow
def test_rollback_undoes_only_the_newest_migration(scratch_dsn: str) -> None:
    migrations.apply(scratch_dsn)
    newest = max(migrations.migration_ids())
    assert migrations.rollback(scratch_dsn, 1) == [newest]
    pending = [mid for mid, done in migrations.status(scratch_dsn) if not done]
    assert pending == [newest]


def test_cli_migrate_apply_and_list(
    scratch_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", scratch_dsn)
    monkeypatch.setenv("JWT_SECRET", "x" * 48)
    assert cli.main(["migrate", "apply"]) == 0
    assert cli.main(["migrate", "list"]) == 0
    out = capsys.readouterr().out
    for migration_id in migrations.migration_ids():
        assert f"applied  {migration_id}" in out


def test_cli_reports_a_bad_setting_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "eighty")
    assert cli.main(["migrate", "list"]) == 2
    assert "PORT must be a whole number" in capsys.readouterr().err


def test_lists_migration_gives_existing_accounts_an_inbox_holding_their_tasks(
    scratch_dsn: str,
) -> None:
    from yoyo import get_backend, read_migrations

    backend = get_backend(migrations.yoyo_url(scratch_dsn), migration_table="_yoyo_migration")
    before = read_migrations(str(migrations.MIGRATIONS_DIR)).filter(lambda m: m.id < "0010")
    with backend.lock():
        backend.apply_migrations(backend.to_apply(before))
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        owner = conn.execute(
            "INSERT INTO users (email, name, password_hash) VALUES ('a@x.io', 'A', 'x')"
            " RETURNING id"
        ).fetchone()
        assert owner is not None
        for n, created in enumerate(["2025-01-03", "2025-01-01", "2025-01-02"]):
            conn.execute(
                "INSERT INTO tasks (user_id, title, created_at) VALUES (%s, %s, %s)",
                (owner[0], f"t{n}", created),
            )
    migrations.apply(scratch_dsn)
    with psycopg.connect(scratch_dsn) as conn:
        lists = conn.execute("SELECT id, name, is_inbox FROM lists").fetchall()
        assert [(name, inbox) for _, name, inbox in lists] == [("Inbox", True)]
        rows = conn.execute(
            'SELECT title, list_id, parent_id FROM tasks ORDER BY position COLLATE "C"'
        ).fetchall()
    assert [title for title, _, _ in rows] == ["t1", "t2", "t0"]  # oldest first
    assert all(list_id == lists[0][0] and parent is None for _, list_id, parent in rows)


DEEP_TREE = """
WITH RECURSIVE chain (n, id) AS (
    SELECT 1, %(root)s::uuid
    UNION ALL
    SELECT n + 1, gen_random_uuid() FROM chain WHERE n < %(levels)s
), linked AS (
    SELECT n, id, lag(id) OVER (ORDER BY n) AS parent_id FROM chain
)
INSERT INTO tasks (id, user_id, list_id, parent_id, title)
SELECT id, %(user)s, (SELECT id FROM lists WHERE user_id = %(user)s AND is_inbox), parent_id,
       'level ' || n
  FROM linked ORDER BY n
"""
LEVELS = """
WITH RECURSIVE placed (id, level) AS (
    SELECT id, 1 FROM tasks WHERE parent_id IS NULL
    UNION ALL
    SELECT t.id, p.level + 1 FROM tasks AS t JOIN placed AS p ON t.parent_id = p.id
)
SELECT max(level), count(*) FROM placed
"""


def test_count_migration_counts_tasks_and_trash_and_lifts_tasks_below_level_four(
    scratch_dsn: str,
) -> None:
    """Restores used to ignore the four levels: a tree of 1,201 was built so. Migration 0032
    lifts every task below level 4 to level 4 (under its level-3 ancestor), in the tasks and in
    each deletion of the trash, and counts each account's tasks with its trash."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(migrations.yoyo_url(scratch_dsn), migration_table="_yoyo_migration")
    before = read_migrations(str(migrations.MIGRATIONS_DIR)).filter(lambda m: m.id < "0032")
    with backend.lock():
        backend.apply_migrations(backend.to_apply(before))
    root, trashed = "9b8e6a2c-3f1d-4c7a-8e5b-6a4f2c1d0e93", "0d3c2b1a-3f1d-4c7a-8e5b-6a4f2c1d0e93"
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        owners = [
            conn.execute(
                "INSERT INTO users (email, name, password_hash) VALUES (%s, 'A', 'x') RETURNING id",
                (email,),
            ).fetchone()[0]  # type: ignore[index]
            for email in ("a@x.io", "b@x.io")
        ]
        conn.execute(DEEP_TREE, {"root": root, "levels": 40, "user": owners[0]})
        conn.execute(DEEP_TREE, {"root": trashed, "levels": 9, "user": owners[0]})
        conn.execute("DELETE FROM tasks WHERE id = %s", (trashed,))  # 9 levels to the trash
        conn.execute(DEEP_TREE, {"root": str(uuid.uuid4()), "levels": 3, "user": owners[1]})
        versions: dict[Any, int] = dict(conn.execute("SELECT id, version FROM tasks").fetchall())
    migrations.apply(scratch_dsn)
    with psycopg.connect(scratch_dsn) as conn:
        assert conn.execute(LEVELS).fetchone() == (4, 43)
        counts: dict[Any, int] = dict(
            conn.execute("SELECT user_id, tasks FROM task_counts").fetchall()
        )
        assert counts == {owners[0]: 49, owners[1]: 3}
        lifted = conn.execute("SELECT id, version FROM tasks WHERE version > 1").fetchall()
        assert len(lifted) == 36  # levels 5 to 40, each a change
        assert all(versions[task_id] + 1 == version for task_id, version in lifted)
        deepest_in_trash = conn.execute(
            "WITH RECURSIVE placed (id, level) AS ("
            " SELECT id, 1 FROM trash WHERE id = %s"
            " UNION ALL SELECT t.id, p.level + 1 FROM trash AS t JOIN placed AS p"
            " ON t.parent_id = p.id) SELECT max(level), count(*) FROM placed",
            (trashed,),
        ).fetchone()
        assert deepest_in_trash == (4, 9)
