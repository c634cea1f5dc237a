"""The quotas hold under concurrent writers (SPEC §6: 409 quota-exceeded past one, the trash
counting): creates of every kind racing at the quota's edge store exactly the quota, a purge
racing creates frees exactly its room, and the stored count of each account's tasks (what a
create checks, migration 0032) always equals its tasks and trash."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest

from server.config import Settings
from tests.support import Api, User, later

QUOTA = 5
ROUNDS = 8
Send = Callable[[], Any]


@pytest.fixture
def small(make_api: Callable[..., Api], settings: Settings) -> Iterator[Api]:
    """An app whose accounts hold at most QUOTA tasks and QUOTA lists."""
    with make_api(dataclasses.replace(settings, task_quota=QUOTA, list_quota=QUOTA)) as api:
        yield api


def stored(sql: psycopg.Connection[Any], owner: User) -> tuple[int, int, int]:
    """(tasks, trashed tasks, the count a create checks) of the owner."""
    row = sql.execute(
        "SELECT (SELECT count(*) FROM tasks WHERE user_id = %(u)s),"
        " (SELECT count(*) FROM trash WHERE user_id = %(u)s),"
        " (SELECT tasks FROM task_counts WHERE user_id = %(u)s)",
        {"u": owner.id},
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def create(api: Api, owner: User, n: int, **headers: str) -> Send:
    return later(api, owner, "POST", "/tasks", json={"title": f"racer {n}"}, headers=headers)


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def test_concurrent_creates_store_exactly_the_quota(
    small: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]
) -> None:
    for _round in range(ROUNDS):
        owner = make_user()
        responses = small.gather(*[create(small, owner, n) for n in range(24)])
        assert statuses(responses) == {201: QUOTA, 409: 24 - QUOTA}
        assert stored(sql, owner) == (QUOTA, 0, QUOTA)
        refused = next(r for r in responses if r.status_code == 409)
        assert refused.json()["type"].endswith(":quota-exceeded")


def test_batches_subtasks_and_idempotent_creates_racing_store_exactly_the_quota(
    small: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]
) -> None:
    for _round in range(ROUNDS):
        owner = make_user()
        parent = small.post(
            f"/api/{owner.id}/tasks", json={"title": "parent"}, headers=owner.headers
        ).json()
        items = [{"op": "create", "body": {"title": f"in batch {n}"}} for n in range(3)]
        sub = {"title": "subtask", "parent_id": parent["id"]}
        batch = later(small, owner, "POST", "/tasks/batch", json={"operations": items})
        subtask = later(small, owner, "POST", "/tasks", json=sub)
        calls = [batch, batch, subtask, subtask]
        calls += [create(small, owner, n, **{"Idempotency-Key": f"key-{n}"}) for n in range(4)]
        calls += [create(small, owner, n) for n in range(4)]
        responses = small.gather(*calls)
        assert all(r.status_code in (200, 201, 409) for r in responses), statuses(responses)
        made = sum(r.status_code == 201 for r in responses)
        for r in responses[:2]:
            made += sum(item["status"] == 201 for item in r.json()["results"])
            assert {item["status"] for item in r.json()["results"]} <= {201, 409}
        assert made == QUOTA - 1  # the parent took one
        assert stored(sql, owner) == (QUOTA, 0, QUOTA)


def test_a_purge_racing_creates_at_the_quota_frees_exactly_its_room(
    small: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]
) -> None:
    for _round in range(ROUNDS):
        owner = make_user()
        made = small.gather(*[create(small, owner, n) for n in range(QUOTA)])
        ids = [r.json()["id"] for r in made]
        for task_id in ids[:2]:
            small.delete(f"/api/{owner.id}/tasks/{task_id}", headers=owner.headers)
        assert stored(sql, owner) == (QUOTA - 2, 2, QUOTA)
        empty = later(small, owner, "DELETE", "/trash")
        responses = small.gather(*[create(small, owner, n) for n in range(4)], empty)
        assert responses[-1].status_code == 204
        created = statuses(responses[:-1])[201]
        assert created <= 2
        assert stored(sql, owner) == (QUOTA - 2 + created, 0, QUOTA - 2 + created)
        # whatever the order was, the room the purge freed is there now, and no more
        after = small.gather(*[create(small, owner, n) for n in range(4)])
        assert statuses(after)[201] == 2 - created
        assert stored(sql, owner) == (QUOTA, 0, QUOTA)


def test_restores_and_purges_leave_the_count_right(
    small: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]
) -> None:
    owner = make_user()
    parent = create(small, owner, 0)
    top = small.run(parent()).json()
    child = small.post(
        f"/api/{owner.id}/tasks", json={"title": "c", "parent_id": top["id"]}, headers=owner.headers
    ).json()
    small.delete(f"/api/{owner.id}/tasks/{top['id']}", headers=owner.headers)
    assert stored(sql, owner) == (0, 2, 2)
    restore = f"/api/{owner.id}/trash/{top['id']}/restore"
    assert small.post(restore, headers=owner.headers).status_code == 200
    assert stored(sql, owner) == (2, 0, 2)
    small.delete(f"/api/{owner.id}/tasks/{child['id']}", headers=owner.headers)
    purge = f"/api/{owner.id}/trash/{child['id']}"
    assert small.delete(purge, headers=owner.headers).status_code == 204
    assert stored(sql, owner) == (1, 0, 1)
    small.post(
        f"/api/{owner.id}/tasks/clear-completed", json={}, headers=owner.headers
    )  # nothing completed: nothing moves
    assert stored(sql, owner) == (1, 0, 1)


def test_concurrent_list_creates_store_exactly_the_list_quota(
    small: Api, make_user: Callable[..., User]
) -> None:
    for _round in range(ROUNDS):
        owner = make_user()
        make = [
            later(small, owner, "POST", "/lists", json={"name": f"list {n}"}) for n in range(12)
        ]
        responses = small.gather(*make)
        assert statuses(responses) == {201: QUOTA - 1, 409: 12 - QUOTA + 1}  # and the inbox
        lists = small.get(f"/api/{owner.id}/lists", headers=owner.headers).json()["lists"]
        assert len(lists) == QUOTA


def test_creates_racing_the_deletion_of_their_account_answer_201_or_401(
    api: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]
) -> None:
    """A create that finds the account's count gone with the account is a 401, not the quota."""
    seen: Counter[int] = Counter()
    for _round in range(ROUNDS):
        owner = make_user()
        calls = [create(api, owner, n) for n in range(16)]
        password = {"password": owner.password}
        calls.insert(
            4, partial(api.arequest, "DELETE", "/api/me", json=password, headers=owner.headers)
        )
        responses = api.gather(*calls)
        assert responses[4].status_code == 204
        creates = [r.status_code for r in responses[:4] + responses[5:]]
        assert set(creates) <= {201, 401}, [r.text for r in responses if r.status_code >= 402]
        seen.update(creates)
        left = sql.execute("SELECT count(*) FROM tasks WHERE user_id = %s", (owner.id,))
        assert left.fetchone() == (0,)
    assert seen[201] > 0


@pytest.mark.parametrize("blocker", ["commits", "rolls back"])
def test_a_create_waiting_for_the_count_tests_the_quota_on_the_count_it_gets(
    small: Api,
    make_user: Callable[..., User],
    sql: psycopg.Connection[Any],
    database_url: str,
    blocker: str,
) -> None:
    """A create that waits for the owner's count (held by a write that takes the last place)
    tests the quota on the count as that write left it (claim_room, migration 0061, locks it in
    a statement of its own): 409 when the write committed, 201 when it rolled back."""
    owner = make_user()
    for n in range(QUOTA - 1):
        made = small.post(f"/api/{owner.id}/tasks", json={"title": f"t{n}"}, headers=owner.headers)
        assert made.status_code == 201, made.text

    async def race() -> httpx.Response:
        watch = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        holder = await psycopg.AsyncConnection.connect(database_url)
        async with watch, holder:
            await holder.execute(
                "INSERT INTO tasks (user_id, list_id, title)"
                " SELECT %(u)s, id, 'the last place' FROM lists WHERE user_id = %(u)s AND is_inbox",
                {"u": owner.id},
            )
            pending = asyncio.ensure_future(create(small, owner, 0)())
            await _until_waiting(watch, pending)
            assert not pending.done(), "the create did not wait for the owner's count"
            await (holder.commit() if blocker == "commits" else holder.rollback())
            return await pending

    response = small.run(race())
    if blocker == "commits":
        assert response.status_code == 409, response.text
        assert response.json()["type"].endswith(":quota-exceeded")
        assert stored(sql, owner) == (QUOTA, 0, QUOTA)
    else:
        assert response.status_code == 201, response.text
        assert stored(sql, owner) == (QUOTA, 0, QUOTA)


def test_a_subtask_waiting_for_its_parent_holds_no_list_counts(
    api: Api, make_user: Callable[..., User], database_url: str
) -> None:
    """A subtask's create (a transaction of its own: it waits for the commit stamp) that waits
    for its parent, held by a writer that then deletes that parent, holds nothing the deletion's
    count trigger needs: claim_room takes the list's counts only for a create that is its own
    transaction (the review of migration 0061, findings-s38-claim.md F1: a deadlock each time
    the deletion's trigger came second). The deletion commits; the create finds no parent."""
    owner = make_user()
    parent = api.post(f"/api/{owner.id}/tasks", json={"title": "parent"}, headers=owner.headers)
    assert parent.status_code == 201, parent.text
    parent_id = parent.json()["id"]

    async def race() -> httpx.Response:
        watch = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        holder = await psycopg.AsyncConnection.connect(database_url)
        async with watch, holder:
            # The holder is the one to find a deadlock, at once: the create's 1 s would retry.
            await holder.execute("SET deadlock_timeout = '10ms'")
            await holder.execute("SELECT FROM tasks WHERE id = %s FOR UPDATE", (parent_id,))
            body = {"title": "child", "parent_id": parent_id}
            pending = asyncio.ensure_future(later(api, owner, "POST", "/tasks", json=body)())
            await _until_waiting(watch, pending)
            assert not pending.done(), "the subtask's create did not wait for its parent"
            await holder.execute("DELETE FROM tasks WHERE id = %s", (parent_id,))
            await holder.commit()
            return await pending

    response = api.run(race())
    assert response.status_code < 500, response.text
    assert api.get(f"/api/{owner.id}/tasks/{parent_id}", headers=owner.headers).status_code == 404


async def _until_waiting(
    watch: psycopg.AsyncConnection[Any], pending: asyncio.Future[httpx.Response]
) -> None:
    """Until a statement of the database waits for a lock (or `pending` is answered)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not pending.done():
        row = await (
            await watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND backend_type = 'client backend'"
            )
        ).fetchone()
        if row is not None and row[0] >= 1:
            return
        await asyncio.sleep(0.01)
