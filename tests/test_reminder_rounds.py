"""What a scheduler round costs and how it meets writers (issue 23): a round reads only what fell
due, and a page of GET /reminders only the page (their plans, on a database of many accounts'
reminders); a burst past one batch fires whole and once with two schedulers at once; and the
scheduler passes by a task a writer holds instead of waiting for it with that task's reminder
rows in hand (half of a deadlock). On a database of the tests' own (tests/reminder_db.py)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from server.system.reminders import BATCH, LATE_SECONDS, fire_due
from tests.reminder_db import Quiet, call, db, fire, fired, minutes_ago, owner, quiet
from tests.support import User

__all__ = ["db", "owner", "quiet"]  # the fixtures


def seed_many(db: psycopg.Connection[Any], accounts: int, tasks: int) -> int:
    """`accounts` accounts of `tasks` open tasks with five reminders each, all in the future;
    how many reminders the database now holds."""
    ids = db.execute(
        "INSERT INTO users (email, name, password_hash)"
        " SELECT 'many' || n || '-' || gen_random_uuid() || '@example.org', 'M', 'x'"
        "   FROM generate_series(1, %s) AS n RETURNING id",
        (accounts,),
    ).fetchall()
    db.execute(
        "INSERT INTO tasks (user_id, list_id, title, reminders)"
        " SELECT l.user_id, l.id, 'many', (SELECT jsonb_agg(jsonb_build_object('at',"
        "        now() + (k * 7 + n) * interval '1 hour')) FROM generate_series(1, 5) AS k)"
        "   FROM lists AS l, generate_series(1, %(tasks)s) AS n"
        "  WHERE l.user_id = ANY (%(ids)s) AND l.is_inbox",
        {"ids": [row[0] for row in ids], "tasks": tasks},
    )
    # Accounts with nothing due, as a real cluster holds, so that users has a size and
    # statistics the planner reads (autovacuum may analyze it at any time of a run).
    db.execute(
        "INSERT INTO users (email, name, password_hash)"
        " SELECT 'idle' || n || '-' || gen_random_uuid() || '@example.org', 'I', 'x'"
        "   FROM generate_series(1, 5000) AS n"
    )
    db.execute("ANALYZE reminder_times")
    db.execute("ANALYZE tasks")
    db.execute("ANALYZE users")
    row = db.execute("SELECT count(*) FROM reminder_times").fetchone()
    assert row is not None
    return int(row[0])


def reads(quiet: Quiet, name: str, generic: bool, **params: Any) -> dict[Any, int]:
    """What the named query, as the service runs it, reads of each table through which index
    (None: a sequential scan), by EXPLAIN ANALYZE in a transaction rolled back (nothing it
    writes or publishes stays); with the plan PostgreSQL makes for these values, or (generic)
    the one it may keep for the prepared statement after its fifth run."""
    ctx = quiet.api.app.ctx
    sql = getattr(ctx.queries, name).sql
    args = ctx.queries.driver_adapter.maybe_order_params(name, params)

    async def explain() -> Any:
        async with ctx.db.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                if generic:
                    await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                return await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
            finally:
                await transaction.rollback()

    found: dict[Any, int] = defaultdict(int)
    for node in scans(json.loads(quiet.api.run(explain()))[0]["Plan"]):
        if node["Node Type"] != "ModifyTable":
            found[node["Relation Name"], node.get("Index Name")] += rows_read(node)
    return dict(found)


def scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan that reads a table."""
    if "Relation Name" in node:
        yield node
    for child in node.get("Plans", []):
        yield from scans(child)


def rows_read(node: dict[str, Any]) -> int:
    """The rows a scan node read: those it returned, and those its filter removed."""
    rows = int(node["Actual Rows"]) + int(node.get("Rows Removed by Filter", 0))
    return rows * int(node["Actual Loops"])


def test_a_round_reads_only_the_reminders_that_fell_due(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    """100 accounts, 10,000 tasks, 50,000 reminders to come, 3 fallen due: the round's plan
    reads the 3 through the index of pending reminders, and them, their tasks, their owner (who
    asked for pushes), the owner's 100 push subscriptions and webhook by key; nobody else's
    10,000."""
    assert seed_many(db, 100, 100) >= 50_000
    db.execute(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)"
        " SELECT id, 'https://push.example.org/' || id || '/' || n, 'k', 'a'"
        "   FROM users, generate_series(1, 100) AS n"
    )
    db.execute("ANALYZE push_subscriptions")
    db.execute(  # a webhook taking reminders per account, at a closed port on loopback
        "INSERT INTO webhooks (user_id, url, events, secret, cursor)"
        " SELECT id, 'http://127.0.0.1:9/', '{reminder}', 'whsec_AAAA', revision FROM users"
    )
    db.execute("ANALYZE webhooks")
    db.execute("UPDATE users SET notify_push = true WHERE id = %s", (owner.id,))
    for n in range(3):
        body = {"title": f"due {n}", "reminders": [{"at": minutes_ago(n + 1).isoformat()}]}
        call(quiet, owner, "POST", "/tasks", 201, json=body)
    for generic in (False, True):
        read = reads(
            quiet,
            "fire_reminders",
            generic,
            late_seconds=LATE_SECONDS,
            batch=BATCH,
            mail=True,
            push=True,
        )
        assert read == {
            ("reminder_times", "reminder_times_pending_idx"): 3,  # taken
            ("reminder_times", "reminder_times_pkey"): 3,  # updated
            ("tasks", "tasks_pkey"): 6,  # locked, and read for the title
            ("users", "users_pkey"): 3,  # notify
            ("push_subscriptions", None): 300,  # the owner's, by a bitmap scan of its index
            ("webhooks", "webhooks_enabled_idx"): 3,  # the owner's, by key, for each reminder
        }, (generic, read)
    db.execute("DELETE FROM push_subscriptions")  # nothing for the app's sender to push
    db.execute("DELETE FROM webhooks")
    assert fire(quiet) == 3


def test_a_page_of_reminders_reads_only_the_page(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    """An account with 2,000 tasks of five reminders each in the window, among 100 accounts:
    a page of 50 after a cursor reads 51 rows of reminder_times and 51 tasks by id."""
    assert seed_many(db, 100, 20) >= 10_000
    db.execute(
        "INSERT INTO tasks (user_id, list_id, title, reminders)"
        " SELECT %(u)s, id, 'mine', (SELECT jsonb_agg(jsonb_build_object('at',"
        "        now() + (k * 2000 + n) * interval '1 minute')) FROM generate_series(1, 5) AS k)"
        "   FROM lists, generate_series(1, 2000) AS n WHERE user_id = %(u)s AND is_inbox",
        {"u": owner.id},
    )
    # other accounts share lists (none with the owner): the shared lists' branch of the page
    # (issue 26) must find the owner's memberships by index, reading none of theirs
    db.execute(
        "INSERT INTO lists (user_id, name) SELECT id, 'shared' FROM users WHERE email LIKE 'many%'"
    )
    db.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role)"
        " SELECT l.id, l.user_id, u.id, 'viewer' FROM lists AS l"
        "  CROSS JOIN LATERAL (SELECT id FROM users WHERE email LIKE 'idle%'"
        "                       ORDER BY id OFFSET (hashtext(l.id::text) & 1023) LIMIT 20) AS u"
        "  WHERE l.name = 'shared'"
    )
    # as autovacuum would: with statistics that do not know the account, the planner may take
    # any index led by user_id for a lookup by (user_id, id), this one's and get_task's alike
    db.execute("ANALYZE reminder_times")
    db.execute("ANALYZE tasks")
    db.execute("ANALYZE list_members")
    [(memberships,)] = db.execute("SELECT count(*) FROM list_members").fetchall()
    assert memberships >= 2000  # (the module's earlier tests' accounts share too)
    now = datetime.now(UTC)
    params = {
        "user_id": owner.id,
        "session_id": owner.session_id,
        "token_hash": None,
        "window_from": now,
        "window_to": now + timedelta(days=10),
        "limit": 51,
    }
    after = {"after_fire_at": (now + timedelta(days=1)).isoformat(), "after_task_id": owner.id}
    for generic in (False, True):
        read = reads(quiet, "list_reminders", generic, **params, **after)
        assert {scan: rows for scan, rows in read.items() if rows} == {
            ("login_families", "login_families_pkey"): 2,  # the access token's check
            ("reminder_times", "reminder_times_user_idx"): 51,
            ("tasks", "tasks_pkey"): 51,
        }, (generic, read)


def test_a_burst_past_one_batch_fires_whole_and_once_with_two_schedulers(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    count = 2 * BATCH + 500
    db.execute(
        "INSERT INTO tasks (user_id, list_id, title, reminders)"
        " SELECT %(u)s, id, 'burst', jsonb_build_array(jsonb_build_object('at',"
        "        now() - n * interval '1 millisecond'))"
        "   FROM lists, generate_series(1, %(n)s) AS n WHERE user_id = %(u)s AND is_inbox",
        {"u": owner.id, "n": count},
    )
    ctx = quiet.api.app.ctx

    async def two_schedulers() -> list[int]:
        return list(
            await asyncio.gather(fire_due(ctx.db, ctx.queries), fire_due(ctx.db, ctx.queries))
        )

    assert sum(quiet.api.run(two_schedulers())) == count
    assert len(fired(db, owner)) == count
    assert fire(quiet) == 0


@pytest.mark.slow
def test_the_scheduler_and_deletes_or_completions_of_its_tasks_never_deadlock(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A writer locks the task, then (its trigger, its cascade) the task's reminder rows; the
    scheduler takes both or skips them, so neither waits for the other while holding what
    the other waits for. Rounds of 200 due reminders fired while their tasks are deleted,
    completed and re-timed at once: no deadlock (PostgreSQL would abort one side after a second,
    and the service would log a victim running again), no error."""
    ctx = quiet.api.app.ctx
    base = f"/api/{owner.id}/tasks"
    for _round in range(5):
        made = db.execute(
            "INSERT INTO tasks (user_id, list_id, title, reminders)"
            " SELECT %(u)s, id, 'race', jsonb_build_array(jsonb_build_object('at',"
            "        now() - n * interval '1 millisecond'))"
            "   FROM lists, generate_series(1, 200) AS n WHERE user_id = %(u)s AND is_inbox"
            " RETURNING id::text",
            {"u": owner.id},
        ).fetchall()
        ids = [row[0] for row in made]

        async def writes(task_id: str, n: int) -> int:
            if n % 3 == 0:
                response = await quiet.api.arequest(
                    "DELETE", f"{base}/{task_id}", headers=owner.headers
                )
            elif n % 3 == 1:
                response = await quiet.api.arequest(
                    "PATCH", f"{base}/{task_id}/complete", headers=owner.headers
                )
            else:
                body = {"reminders": [{"at": minutes_ago(2).isoformat()}]}
                response = await quiet.api.arequest(
                    "PATCH", f"{base}/{task_id}", json=body, headers=owner.headers
                )
            return response.status_code

        async def race(ids: list[str]) -> list[Any]:
            return list(
                await asyncio.gather(
                    fire_due(ctx.db, ctx.queries),
                    *(writes(task_id, n) for n, task_id in enumerate(ids)),
                    return_exceptions=True,
                )
            )

        with caplog.at_level("INFO", logger="todo_api"):
            fired_now, *statuses = quiet.api.run(race(ids))
        assert isinstance(fired_now, int), fired_now
        assert set(statuses) <= {200, 204}, statuses
        assert "deadlock" not in caplog.text
        fire(quiet)


def test_the_scheduler_skips_the_reminders_of_a_task_a_writer_holds(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    """A writer holds a task (as a batch or a delete does), and deletes it once the scheduler
    has started: the delete's cascade needs the task's reminder rows. A scheduler that had
    taken those rows and then waited for the task would be half of a deadlock (PostgreSQL
    aborts one side after a second); this one passes the held task by and fires the others."""
    made = db.execute(
        "INSERT INTO tasks (user_id, list_id, title, reminders)"
        " SELECT %(u)s, id, 'held' || n, jsonb_build_array(jsonb_build_object('at',"
        "        now() - n * interval '1 second'))"
        "   FROM lists, generate_series(1, 3) AS n WHERE user_id = %(u)s AND is_inbox"
        " RETURNING id::text",
        {"u": owner.id},
    ).fetchall()
    held = made[0][0]
    ctx = quiet.api.app.ctx
    with psycopg.connect(quiet.dsn) as writer, psycopg.connect(quiet.dsn, autocommit=True) as watch:
        writer.execute("SELECT FROM tasks WHERE id = %s FOR UPDATE", (held,))

        def waiting() -> bool:
            row = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'todo-api' AND wait_event_type = 'Lock'"
            ).fetchone()
            return row is not None and row[0] > 0

        async def scenario() -> Any:
            scheduler = asyncio.create_task(fire_due(ctx.db, ctx.queries))
            for _ in range(200):  # until it is done, or waits for a lock: 10 s at most
                if scheduler.done() or await asyncio.to_thread(waiting):
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(writer.execute, "DELETE FROM tasks WHERE id = %s", (held,))
            await asyncio.to_thread(writer.commit)
            return await scheduler

        assert quiet.api.run(scenario()) == 2
    assert {task_id for task_id, _ in fired(db, owner)} == {row[0] for row in made[1:]}
