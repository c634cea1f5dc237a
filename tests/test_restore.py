"""Restoring from the trash keeps every rule of SPEC §6 (at most four levels, a child in its
parent's list) and answers each of concurrent writers without a 500: restores of one task,
a restore racing the deletion of its parent or of its list, a move of its parent, a purge,
emptying the trash and clear-completed. A second user is present throughout."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import psycopg

from server.config import Settings
from server.db.queries import load_queries
from server.system import purger
from tests.support import Api, User, later
from tests.test_lists import make_list
from tests.test_task_placement import moved
from tests.test_trash import make_task

Task = dict[str, Any]
ROUNDS = 12
MAX_LEVEL = 4

LEVELS = """
WITH RECURSIVE placed (id, level) AS (
    SELECT id, 1 FROM tasks WHERE user_id = %(u)s AND parent_id IS NULL
    UNION ALL
    SELECT t.id, p.level + 1 FROM tasks AS t JOIN placed AS p ON t.parent_id = p.id
)
SELECT coalesce(max(level), 0), count(*) FROM placed
"""


def deepest(sql: psycopg.Connection[Any], owner: User) -> int:
    """The deepest level of the owner's tasks (every task reached from a top-level one)."""
    row = sql.execute(LEVELS, {"u": owner.id}).fetchone()
    total = sql.execute("SELECT count(*) FROM tasks WHERE user_id = %s", (owner.id,)).fetchone()
    assert row is not None
    assert total is not None
    assert row[1] == total[0]  # no task outside a tree
    return int(row[0])


def chain(api: Api, owner: User, levels: int, **fields: Any) -> list[Task]:
    """`levels` tasks, each the child of the one before."""
    made = [make_task(api, owner, "level 1", **fields)]
    for level in range(2, levels + 1):
        made.append(make_task(api, owner, f"level {level}", parent_id=made[-1]["id"]))
    return made


def delete(api: Api, owner: User, task: Task) -> None:
    path = f"/api/{owner.id}/tasks/{task['id']}"
    assert api.delete(path, headers=owner.headers).status_code == 204


def restore(api: Api, owner: User, task: Task) -> httpx.Response:
    return api.post(f"/api/{owner.id}/trash/{task['id']}/restore", headers=owner.headers)


def restored(api: Api, owner: User, task: Task) -> Task:
    response = restore(api, owner, task)
    assert response.status_code == 200, response.text
    body: Task = response.json()
    return body


def live(api: Api, owner: User, task: Task) -> Task | None:
    response = api.get(f"/api/{owner.id}/tasks/{task['id']}", headers=owner.headers)
    return response.json() if response.status_code == 200 else None


def test_restore_goes_under_its_parent_while_the_levels_allow(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    anchor = chain(api, user, 3)
    leaf = make_task(api, user, "level 4", parent_id=anchor[2]["id"])
    delete(api, user, leaf)
    assert restored(api, user, leaf)["parent_id"] == anchor[2]["id"]  # back at level 4
    top, middle, _bottom = chain(api, user, 3)
    delete(api, user, middle)
    assert restored(api, user, middle)["parent_id"] == top["id"]  # levels 2 and 3 again
    assert deepest(sql, user) == MAX_LEVEL


def test_restore_under_a_parent_now_too_deep_goes_to_the_top_level_of_its_list(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    work = make_list(api, user, "Work")
    top, middle, bottom = chain(api, user, 3, list_id=work["id"])
    delete(api, user, middle)  # middle and bottom go to the trash
    anchor = chain(api, user, 3)  # in the inbox
    assert moved(api, user, top, parent_id=anchor[2]["id"])["list_id"] == anchor[0]["list_id"]
    back = restored(api, user, middle)  # under top it would reach level 6
    assert (back["parent_id"], back["list_id"]) == (None, work["id"])
    child = live(api, user, bottom)
    assert child is not None
    assert (child["parent_id"], child["list_id"]) == (middle["id"], work["id"])
    assert deepest(sql, user) == MAX_LEVEL


def test_repeated_restores_never_build_a_tree_past_four_levels(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    """The attack that built 1,201 levels: delete a level-2 task, move its old parent under a
    level-3 task, restore it; again with the tree it made."""
    root, second = chain(api, user, 2)
    for _round in range(6):
        delete(api, user, second)
        anchor = chain(api, user, 3)
        moved(api, user, root, parent_id=anchor[2]["id"])
        assert restored(api, user, second)["parent_id"] is None
        assert deepest(sql, user) <= MAX_LEVEL
        root, second = anchor[0], anchor[1]
    tops = api.get(
        f"/api/{user.id}/tasks", params={"parent_id": "none", "limit": 100}, headers=user.headers
    ).json()["tasks"]
    for task in tops:  # completing a whole tree cascades down without a 500
        path = f"/api/{user.id}/tasks/{task['id']}/complete"
        assert api.patch(path, headers=user.headers).status_code == 200


def test_concurrent_restores_of_one_task_restore_it_once(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    for _round in range(ROUNDS):
        top, child = chain(api, user, 2)
        delete(api, user, top)
        responses = api.gather(*[later(api, user, "POST", f"/trash/{top['id']}/restore")] * 4)
        assert Counter(r.status_code for r in responses) == {200: 1, 404: 3}
        assert live(api, user, child) is not None
    assert api.get(f"/api/{user.id}/trash", headers=user.headers).json()["total"] == 0
    assert deepest(sql, user) == 2


def test_restoring_a_child_while_its_parent_is_deleted(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    for _round in range(ROUNDS):
        parent, child = chain(api, user, 2)
        delete(api, user, child)
        back, gone = api.gather(
            later(api, user, "POST", f"/trash/{child['id']}/restore"),
            later(api, user, "DELETE", f"/tasks/{parent['id']}"),
        )
        assert (back.status_code, gone.status_code) == (200, 204), back.text
        now = live(api, user, child)
        if now is not None:  # restored after the deletion: at the top level
            assert now["parent_id"] is None
            assert back.json()["parent_id"] is None
        else:  # restored under its parent first, then deleted with it
            assert back.json()["parent_id"] == parent["id"]
    deepest(sql, user)


def test_restore_racing_the_deletion_of_its_list(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    inbox = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"][0]["id"]
    for _round in range(ROUNDS):
        work = make_list(api, user, "Work")
        task = make_task(api, user, "in work", list_id=work["id"])
        delete(api, user, task)
        back, gone = api.gather(
            later(api, user, "POST", f"/trash/{task['id']}/restore"),
            later(api, user, "DELETE", f"/lists/{work['id']}"),
        )
        assert (back.status_code, gone.status_code) == (200, 204), back.text
        now = live(api, user, task)
        assert now is None or now["list_id"] == inbox
        assert back.json()["list_id"] in (inbox, work["id"])
    deepest(sql, user)


def test_restore_racing_a_move_of_its_parent_keeps_four_levels(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    for _round in range(ROUNDS):
        top, middle, _bottom = chain(api, user, 3)
        delete(api, user, middle)
        anchor = chain(api, user, 3)
        under = {"parent_id": anchor[2]["id"]}
        move, back = api.gather(  # the move sent first: each wins in some rounds
            later(api, user, "POST", f"/tasks/{top['id']}/move", json=under),
            later(api, user, "POST", f"/trash/{middle['id']}/restore"),
        )
        assert back.status_code == 200, back.text
        if move.status_code == 200:  # moved first: the restore went to the top level
            assert back.json()["parent_id"] is None
        else:  # restored first: top's subtree is now too tall for level 4
            assert move.status_code == 422, move.text
            assert back.json()["parent_id"] == top["id"]
        assert deepest(sql, user) <= MAX_LEVEL


def test_restore_racing_a_purge_or_emptying_the_trash(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    for round_no in range(ROUNDS):
        top, child = chain(api, user, 2)
        delete(api, user, top)
        path = f"/trash/{top['id']}" if round_no % 2 else "/trash"
        back, purge = api.gather(
            later(api, user, "POST", f"/trash/{top['id']}/restore"),
            later(api, user, "DELETE", path),
        )
        if back.status_code == 200:  # restored first: nothing of it left to purge
            assert purge.status_code == (204 if path == "/trash" else 404)
            assert live(api, user, child) is not None
        else:
            assert (back.status_code, purge.status_code) == (404, 204)
            assert live(api, user, child) is None
        assert api.get(f"/api/{user.id}/trash", headers=user.headers).json()["total"] == 0
    counted = sql.execute(
        "SELECT tasks, (SELECT count(*) FROM tasks WHERE user_id = %(u)s)"
        " FROM task_counts WHERE user_id = %(u)s",
        {"u": user.id},
    ).fetchone()
    assert counted is not None
    assert counted[0] == counted[1]


def test_restore_racing_clear_completed(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    for _round in range(ROUNDS):
        parent = make_task(api, user, "done", is_completed=True)
        child = make_task(api, user, "open", parent_id=parent["id"])
        delete(api, user, child)
        back, cleared = api.gather(
            later(api, user, "POST", f"/trash/{child['id']}/restore"),
            later(api, user, "POST", "/tasks/clear-completed", json={}),
        )
        assert (back.status_code, cleared.status_code) == (200, 200), back.text
        now = live(api, user, child)
        if now is None:  # restored under its parent, then cleared with it
            assert cleared.json()["count"] == 2
        else:
            assert (now["parent_id"], cleared.json()["count"]) == (None, 1)
        assert live(api, user, parent) is None
    deepest(sql, user)


def test_restore_racing_the_retention_purge(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    queries = load_queries()
    for _round in range(ROUNDS):
        top, child = chain(api, user, 2)
        delete(api, user, top)
        sql.execute("UPDATE trash SET deleted_at = now() - interval '31 days'")
        restore_it = later(api, user, "POST", f"/trash/{top['id']}/restore")
        purge = purger.purge(api.app.ctx.db, queries, settings)
        back, purged = api.run(asyncio.gather(restore_it(), purge))
        if back.status_code == 200:  # restored first: nothing left to purge
            assert purged["purge_trash"] == 0
            assert live(api, user, child) is not None
        else:
            assert (back.status_code, purged["purge_trash"]) == (404, 2)
    counted = sql.execute("SELECT tasks FROM task_counts WHERE user_id = %s", (user.id,))
    live_tasks = sql.execute("SELECT count(*) FROM tasks WHERE user_id = %s", (user.id,))
    assert counted.fetchone() == live_tasks.fetchone()  # and the trash is empty
