"""A request whose transaction PostgreSQL aborts as a deadlock's victim runs again; one that
loses three times in a row is a 503 with Retry-After, logged, and nothing of it happened.

The deadlocks are PostgreSQL's own error (SQLSTATE 40P01, the transaction rolled back), raised
by a trigger on the one task under test for its first N updates: a real two-party deadlock
cannot be made to pick the same victim three times running."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.support import Api, User

Task = dict[str, Any]


@pytest.fixture
def deadlocks(sql: psycopg.Connection[Any]) -> Iterator[Callable[[str, int], None]]:
    """deadlocks(task_id, n): the next n updates of that task abort as a deadlock's victim."""
    sql.execute("CREATE SEQUENCE test_deadlocks")
    sql.execute(
        """CREATE FUNCTION test_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.id = TG_ARGV[0]::uuid AND nextval('test_deadlocks') <= TG_ARGV[1]::int THEN
                RAISE EXCEPTION 'forced by the test' USING ERRCODE = 'deadlock_detected';
            END IF;
            RETURN NEW;
        END $$"""
    )

    def arrange(task_id: str, n: int) -> None:
        # DDL takes no parameters; both values are the test's own (a uuid, an int).
        sql.execute(
            "CREATE TRIGGER test_deadlock BEFORE UPDATE ON tasks FOR EACH ROW"
            f" EXECUTE FUNCTION test_deadlock('{task_id}', '{int(n)}')"
        )

    yield arrange
    sql.execute("DROP TRIGGER IF EXISTS test_deadlock ON tasks")
    sql.execute("DROP FUNCTION test_deadlock")
    sql.execute("DROP SEQUENCE test_deadlocks")


def test_a_request_that_loses_two_deadlocks_runs_a_third_time_and_succeeds(
    api: Api, user: User, task: Task, deadlocks: Callable[[str, int], None]
) -> None:
    deadlocks(task["id"], 2)
    url = f"/api/{user.id}/tasks/{task['id']}"
    changed = api.patch(url, json={"title": "third time"}, headers=user.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == task["version"] + 1


def test_a_request_that_loses_three_deadlocks_is_a_503_with_retry_after_and_changes_nothing(
    api: Api,
    user: User,
    task: Task,
    deadlocks: Callable[[str, int], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    deadlocks(task["id"], 3)
    url = f"/api/{user.id}/tasks/{task['id']}"
    with caplog.at_level(logging.INFO, logger="todo_api"):
        refused = api.patch(url, json={"title": "never"}, headers=user.headers)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["type"].endswith(":write-contention")
    assert "deadlock victim 3 times, answered 503" in caplog.text
    stored = api.get(url, headers=user.headers).json()
    assert (stored["title"], stored["version"]) == (task["title"], task["version"])
    again = api.patch(url, json={"title": "retried"}, headers=user.headers)  # as Retry-After says
    assert again.status_code == 200, again.text
