"""The scheduler fires from reminder_times (issue 23, migration 0036), which every write keeps in
step: a PATCH of reminders, a completion (and its cascade), a delete to the trash, a restore, a
recurrence advance, and a new time zone moving an all-day due; reminders at year 1 and 9999 are
taken once and never fire. On a database of the tests' own (tests/reminder_db.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from server.system.reminders import BATCH, LATE_SECONDS
from tests.reminder_db import Quiet, call, db, fire, fired, minutes_ago, owner, quiet
from tests.support import User

__all__ = ["db", "owner", "quiet"]  # the fixtures


def test_a_patched_reminder_fires_at_its_new_time(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    later = [{"at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}]
    task = call(quiet, owner, "POST", "/tasks", 201, json={"title": "p", "reminders": later})
    assert fire(quiet) == 0
    now_due = minutes_ago(5)
    body = {"reminders": [{"at": now_due.isoformat()}]}
    call(quiet, owner, "PATCH", f"/tasks/{task['id']}", 200, json=body)
    assert fire(quiet) == 1
    assert fired(db, owner) == {(task["id"], now_due)}
    assert fire(quiet) == 0  # once
    call(quiet, owner, "PATCH", f"/tasks/{task['id']}", 200, json={"title": "renamed"})
    assert fire(quiet) == 0  # a write that keeps the instant does not fire it again


def test_a_completed_task_does_not_fire_nor_its_completed_descendants(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    due = [{"at": minutes_ago(5).isoformat()}]
    parent = call(quiet, owner, "POST", "/tasks", 201, json={"title": "p", "reminders": due})
    child = {"title": "c", "parent_id": parent["id"], "reminders": due}
    child_id = call(quiet, owner, "POST", "/tasks", 201, json=child)["id"]
    call(quiet, owner, "PATCH", f"/tasks/{parent['id']}/complete", 200)  # the cascade too
    assert fire(quiet) == 0
    call(quiet, owner, "PATCH", f"/tasks/{child_id}", 200, json={"is_completed": False})
    assert fire(quiet) == 1  # reopened: it never fired
    assert {task_id for task_id, _ in fired(db, owner)} == {child_id}
    call(quiet, owner, "PATCH", f"/tasks/{child_id}/complete", 200)
    call(quiet, owner, "PATCH", f"/tasks/{child_id}/complete", 200)  # reopened again
    assert fire(quiet) == 0  # fired once, whatever comes back


def test_a_trashed_task_does_not_fire_and_a_restored_one_does(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    at = minutes_ago(5)
    window = {
        "from": (at - timedelta(hours=1)).isoformat(),
        "to": (at + timedelta(hours=1)).isoformat(),
    }
    body = {"title": "t", "reminders": [{"at": at.isoformat()}]}
    task = call(quiet, owner, "POST", "/tasks", 201, json=body)
    child = {**body, "parent_id": task["id"]}
    child_id = call(quiet, owner, "POST", "/tasks", 201, json=child)["id"]
    call(quiet, owner, "DELETE", f"/tasks/{task['id']}", 204)  # its child with it
    assert call(quiet, owner, "GET", "/reminders", 200, params=window)["reminders"] == []
    rows = db.execute(
        "SELECT count(*) FROM reminder_times WHERE task_id IN (%s, %s)", (task["id"], child_id)
    ).fetchone()
    assert rows == (0,)  # no row left behind for the scheduler to skip every round
    assert fire(quiet) == 0
    call(quiet, owner, "POST", f"/trash/{task['id']}/restore", 200)
    assert fire(quiet) == 2
    assert fired(db, owner) == {(task["id"], at), (child_id, at)}


def test_a_recurring_task_reminds_at_its_next_due(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    """Due yesterday, five minutes from now: its reminder 10 minutes before is more than an
    hour late, dropped. Completed, it advances a day, and the same reminder is 5 minutes ago."""
    due = minutes_ago(-5) - timedelta(days=1)
    body = {
        "title": "daily",
        "due_date": due.isoformat(),
        "recurrence": {"rule": "FREQ=DAILY"},
        "reminders": [{"before_due": "PT10M"}],
    }
    task = call(quiet, owner, "POST", "/tasks", 201, json=body)
    assert fire(quiet) == 0  # too late
    advanced = call(quiet, owner, "PATCH", f"/tasks/{task['id']}/complete", 200)
    assert not advanced["is_completed"]
    next_due = due + timedelta(days=1)
    assert datetime.fromisoformat(advanced["due_date"]) == next_due
    assert fire(quiet) == 1
    assert fired(db, owner) == {(task["id"], next_due - timedelta(minutes=10))}


def test_a_new_time_zone_moves_an_all_day_tasks_reminders(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    """All-day, the task is due at the end of its day in the owner's zone: from UTC to +14
    (Etc/GMT-14), that end comes 14 hours sooner, and so does a before_due reminder, which the
    test sets to fall five minutes ago in +14 (and 14 hours ahead in UTC)."""
    now = datetime.now(UTC)
    day = (now + timedelta(hours=14, minutes=10)).date()  # its end at +14 is still ahead
    end_at_plus_14 = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) - (
        timedelta(hours=14)
    )
    before = (end_at_plus_14 - minutes_ago(5)) // timedelta(minutes=1)  # whole minutes
    body = {
        "title": "all day",
        "due_on": day.isoformat(),
        "reminders": [{"before_due": f"PT{before}M"}],
    }
    task = call(quiet, owner, "POST", "/tasks", 201, json=body)
    assert fire(quiet) == 0  # in UTC it falls 14 hours from now
    moved = end_at_plus_14 - timedelta(minutes=before)
    window = {
        "from": (moved - timedelta(days=1)).isoformat(),
        "to": (moved + timedelta(days=1)).isoformat(),
    }
    before_listed = call(quiet, owner, "GET", "/reminders", 200, params=window)["reminders"]
    assert [datetime.fromisoformat(r["fire_at"]) for r in before_listed] == [
        moved + timedelta(hours=14)
    ]
    me = quiet.api.patch("/api/me", json={"timezone": "Etc/GMT-14"}, headers=owner.headers)
    assert me.status_code == 200, me.text
    listed = call(quiet, owner, "GET", "/reminders", 200, params=window)["reminders"]
    assert [datetime.fromisoformat(r["fire_at"]) for r in listed] == [moved]
    assert fire(quiet) == 1
    assert fired(db, owner) == {(task["id"], moved)}


def test_reminders_at_year_1_and_9999_are_taken_once_and_never_fire(
    quiet: Quiet, owner: User, db: psycopg.Connection[Any]
) -> None:
    body = {
        "title": "edges",
        "reminders": [{"at": "0001-01-01T00:00:00.000001Z"}, {"at": "9999-12-31T23:59:59Z"}],
    }
    call(quiet, owner, "POST", "/tasks", 201, json=body)
    ctx = quiet.api.app.ctx
    taken = quiet.api.run(
        ctx.queries.fire_reminders(
            ctx.db, late_seconds=LATE_SECONDS, batch=BATCH, mail=True, push=True
        )
    )
    assert (taken["handled"], taken["fired"]) >= (1, 0)
    assert taken["fired"] == 0
    pending = db.execute(
        "SELECT count(*) FROM reminder_times AS r JOIN tasks AS t ON t.id = r.task_id"
        " WHERE t.user_id = %s AND r.pending AND r.fire_at <= now()",
        (owner.id,),
    ).fetchone()
    assert pending == (0,)  # the next round will not read it again
    assert fired(db, owner) == set()
