"""Reminders of a task in a shared list are for one person (SPEC §11): its assignee, else the
member who created it (null: the owner), as long as they belong to the list, else the owner.
The scheduler's event reaches that person's streams only, and its mail and push (SPEC §12) that
person's address and subscriptions only; a new assignee moves the reminders still to come, and
someone who left the list gets none. On the reminder tests' own database, whose rounds are the
tests' own calls (tests/reminder_db.py); memberships, assignees and creators are written as rows
(the API that writes them is another piece of issue 26)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest

from server.access.tokens import issue_access_token
from server.system.reminders import fire_due
from tests.conftest import start_session
from tests.reminder_db import Quiet, call, db, minutes_ago, owner, quiet
from tests.support import User
from tests.test_events import Listener, stream

__all__ = ["db", "owner", "quiet"]  # the fixtures


def person(quiet: Quiet, db: psycopg.Connection[Any], name: str) -> User:
    """An account that asked for mail (verified) and push, with one push subscription."""
    row = db.execute(
        "INSERT INTO users (email, name, password_hash, email_verified, notify_email,"
        " notify_push) VALUES (%s || gen_random_uuid() || '@example.org', %s, 'x', true, true,"
        " true) RETURNING id::text, email",
        (name, name),
    ).fetchone()
    assert row is not None
    db.execute(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)"
        " VALUES (%s, 'https://push.example.org/' || %s, 'k', 'a')",
        (row[0], row[0]),
    )
    session = start_session(db, row[0])
    token = issue_access_token(quiet.settings, row[0], session)
    return User(row[0], row[1], "", name, access_token=token, session_id=session)


class Household:
    def __init__(self, quiet: Quiet, db: psycopg.Connection[Any], owner: User) -> None:
        row = db.execute(
            "UPDATE users SET email_verified = true, notify_email = true, notify_push = true"
            " WHERE id = %s RETURNING email",
            (owner.id,),
        ).fetchone()
        assert row is not None
        self.owner_email: str = row[0]
        db.execute(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)"
            " VALUES (%s, 'https://push.example.org/owner' || %s, 'k', 'a')",
            (owner.id, owner.id),
        )
        self.quiet, self.db, self.owner = quiet, db, owner
        self.editor, self.other = person(quiet, db, "editor"), person(quiet, db, "other")
        self.list_id = call(quiet, owner, "POST", "/lists", 201, json={"name": "Home"})["id"]
        for who in (self.editor, self.other):
            self.join(who)

    def join(self, who: User) -> None:
        self.db.execute(
            "INSERT INTO list_members (list_id, owner_id, member_id, role)"
            " VALUES (%s, %s, %s, 'editor')",
            (self.list_id, self.owner.id, who.id),
        )

    def leave(self, who: User) -> None:
        self.db.execute(
            "DELETE FROM list_members WHERE list_id = %s AND member_id = %s",
            (self.list_id, who.id),
        )

    def task(self, *, created_by: User | None = None, assignee: User | None = None) -> str:
        """A task of the shared list reminding five minutes ago."""
        body = {
            "title": "Water the plants",
            "list_id": self.list_id,
            "reminders": [{"at": minutes_ago(5).isoformat()}],
        }
        task_id: str = call(self.quiet, self.owner, "POST", "/tasks", 201, json=body)["id"]
        self.db.execute(
            "UPDATE tasks SET created_by = %s, assignee_id = %s WHERE id = %s",
            (
                None if created_by is None else created_by.id,
                None if assignee is None else assignee.id,
                task_id,
            ),
        )
        return task_id

    def assign(self, task_id: str, who: User | None) -> None:
        self.db.execute(
            "UPDATE tasks SET assignee_id = %s WHERE id = %s",
            (None if who is None else who.id, task_id),
        )

    def deliveries(self) -> tuple[set[str], set[str]]:
        """(addresses mailed, owners of the subscriptions pushed) of the reminders fired."""
        mails = self.db.execute(
            "SELECT payload->>'to' FROM outbox WHERE channel = 'mail'"
            " AND payload->>'kind' = 'reminder'"
        ).fetchall()
        pushes = self.db.execute(
            "SELECT s.user_id::text FROM outbox AS o"
            " JOIN push_subscriptions AS s ON s.id = (o.payload->>'subscription_id')::uuid"
            " WHERE o.channel = 'push'"
        ).fetchall()
        return {row[0] for row in mails}, {row[0] for row in pushes}

    def everyone(self) -> list[User]:
        return [self.owner, self.editor, self.other]

    def heard(self) -> dict[str, list[str]]:
        """One round of the scheduler, with a stream open for each of the three: the task ids
        of the reminders each stream got (until the expected one came, then a little more)."""
        quiet = self.quiet

        async def scenario() -> dict[str, list[str]]:
            async with (
                httpx.AsyncClient(base_url=quiet.api.base, timeout=30) as client,
                stream(client, self.owner) as mine,
                stream(client, self.editor) as editors,
                stream(client, self.other) as others,
            ):
                ctx = quiet.api.app.ctx
                fired = await fire_due(ctx.db, ctx.queries)
                listeners = {self.owner.id: mine, self.editor.id: editors, self.other.id: others}
                return {
                    who: await reminders(listener, expected=fired)
                    for who, listener in listeners.items()
                }

        return quiet.api.run(scenario())


async def reminders(listener: Listener, expected: int) -> list[str]:
    """The task ids of the reminders a stream got within a second (other events skipped)."""
    found: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while (left := deadline - loop.time()) > 0 and len(found) <= expected:
        try:
            event = await listener.next(within=left)
        except TimeoutError:
            break
        if event.get("event") == "reminder":
            found.append(event["data"]["task_id"])
    return found


@pytest.fixture
def home(quiet: Quiet, db: psycopg.Connection[Any], owner: User) -> Household:
    db.execute("DELETE FROM outbox")
    return Household(quiet, db, owner)


def test_a_reminder_reaches_the_assignee_and_not_the_owner(home: Household) -> None:
    task_id = home.task(created_by=home.other, assignee=home.editor)
    heard = home.heard()
    assert heard == {home.owner.id: [], home.editor.id: [task_id], home.other.id: []}
    assert home.deliveries() == ({home.editor.email}, {home.editor.id})


def test_without_an_assignee_a_reminder_is_for_its_creator(home: Household) -> None:
    task_id = home.task(created_by=home.other)
    assert home.heard() == {home.owner.id: [], home.editor.id: [], home.other.id: [task_id]}
    assert home.deliveries() == ({home.other.email}, {home.other.id})


def test_a_task_the_owner_made_reminds_the_owner(home: Household) -> None:
    task_id = home.task()
    assert home.heard() == {home.owner.id: [task_id], home.editor.id: [], home.other.id: []}
    assert home.deliveries() == ({home.owner_email}, {home.owner.id})


def test_a_new_assignee_takes_the_reminders_still_to_come(home: Household) -> None:
    task_id = home.task(created_by=home.editor, assignee=home.editor)
    home.assign(task_id, home.other)
    assert home.heard() == {home.owner.id: [], home.editor.id: [], home.other.id: [task_id]}
    unassigned = home.task(created_by=home.editor, assignee=home.other)
    home.assign(unassigned, None)  # back to its creator
    assert home.heard()[home.editor.id] == [unassigned]


def test_who_left_the_list_gets_no_reminder(home: Household) -> None:
    assigned = home.task(created_by=home.owner, assignee=home.editor)
    made = home.task(created_by=home.other)
    home.leave(home.editor)  # unassigned (migration 0041): back to the owner, its creator
    home.leave(home.other)  # made by someone gone: the owner's
    heard = home.heard()
    assert sorted(heard[home.owner.id]) == sorted([assigned, made])
    assert heard[home.editor.id] == heard[home.other.id] == []
    assert home.deliveries() == ({home.owner_email}, {home.owner.id})


def test_a_creator_who_comes_back_gets_its_reminders_again(home: Household) -> None:
    made = home.task(created_by=home.other)
    home.leave(home.other)
    home.join(home.other)
    assert home.heard()[home.other.id] == [made]


def test_a_deleted_account_gets_nothing_and_its_reminders_go_to_the_owner(
    home: Household,
) -> None:
    made = home.task(created_by=home.other, assignee=home.other)
    home.db.execute("DELETE FROM users WHERE id = %s", (home.other.id,))
    row = home.db.execute(
        "SELECT DISTINCT person_id::text FROM reminder_times WHERE task_id = %s", (made,)
    ).fetchall()
    assert row == [(home.owner.id,)]


def test_a_task_moved_out_of_the_shared_list_reminds_the_owner(home: Household) -> None:
    task_id = home.task(created_by=home.editor, assignee=home.editor)
    inbox = [
        found["id"]
        for found in call(home.quiet, home.owner, "GET", "/lists", 200)["lists"]
        if found["is_inbox"]
    ]
    call(home.quiet, home.owner, "POST", f"/tasks/{task_id}/move", 200, json={"list_id": inbox[0]})
    assert home.heard() == {home.owner.id: [task_id], home.editor.id: [], home.other.id: []}
