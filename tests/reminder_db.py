"""A database of the reminder tests' own, whose app's scheduler is stopped: each round is the
test's own call of fire_due, so what fires, and when, is the test's to say. Its fixtures are
imported by the test modules that use them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from server.access.tokens import issue_access_token
from server.config import Settings
from server.system.reminders import fire_due
from tests.conftest import start_session
from tests.live import fresh_database
from tests.support import Api, User


@dataclasses.dataclass
class Quiet:
    api: Api
    dsn: str
    settings: Settings


@pytest.fixture(scope="module")
def quiet(admin_dsn: str, settings: Settings, make_api: Callable[..., Api]) -> Iterator[Quiet]:
    dsn = fresh_database(admin_dsn, "reminder_times")
    own = dataclasses.replace(settings, database_url=dsn)
    with make_api(own) as api:
        api.run(_stop_background(api))
        yield Quiet(api, dsn, own)


async def _stop_background(api: Api) -> None:
    for task in (api.app.ctx.purger, api.app.ctx.scheduler):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def db(quiet: Quiet) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(quiet.dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def owner(quiet: Quiet, db: psycopg.Connection[Any]) -> User:
    row = db.execute(
        "INSERT INTO users (email, name, password_hash)"
        " VALUES ('r' || gen_random_uuid() || '@example.org', 'R', 'x') RETURNING id::text"
    ).fetchone()
    assert row is not None
    session = start_session(db, row[0])
    token = issue_access_token(quiet.settings, row[0], session)
    return User(row[0], "", "", "R", access_token=token, session_id=session)


def call(quiet: Quiet, owner: User, method: str, path: str, status: int, **kw: Any) -> Any:
    response = quiet.api.request(method, f"/api/{owner.id}{path}", headers=owner.headers, **kw)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def fire(quiet: Quiet) -> int:
    """One round of the scheduler: how many reminders it fired."""
    ctx = quiet.api.app.ctx
    return int(quiet.api.run(fire_due(ctx.db, ctx.queries)))


def fired(db: psycopg.Connection[Any], owner: User) -> set[tuple[str, datetime]]:
    rows = db.execute(
        "SELECT f.task_id::text, f.fire_at FROM fired_reminders AS f"
        " JOIN tasks AS t ON t.id = f.task_id WHERE t.user_id = %s",
        (owner.id,),
    ).fetchall()
    return {(task_id, fire_at.astimezone(UTC)) for task_id, fire_at in rows}


def minutes_ago(n: int) -> datetime:
    """n minutes before now, to the second (the instant a reminder is set at)."""
    return (datetime.now(UTC) - timedelta(minutes=n)).replace(microsecond=0)
