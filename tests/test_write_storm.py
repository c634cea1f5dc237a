"""A hostile client's storm on one account: waves of concurrent random writes of every kind that
changes a tree, the trash or the count (create, subtask, batch, move, delete, restore, purge,
empty, clear-completed, list create and delete) at a small quota. No answer is a 500, and after
the storm every rule still holds: four levels at most, each child in its parent's list, the
quota, and the stored count of tasks and trash (migration 0032)."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from server.config import Settings
from tests.support import Api, User, later

pytestmark = pytest.mark.slow  # about 15 s a seed

QUOTA = 40
WAVES = 40
WIDTH = 12

SHAPE = """
WITH RECURSIVE placed (id, list_id, level) AS (
    SELECT id, list_id, 1 FROM tasks WHERE user_id = %(u)s AND parent_id IS NULL
    UNION ALL
    SELECT t.id, t.list_id, p.level + 1
      FROM tasks AS t JOIN placed AS p ON t.parent_id = p.id
     WHERE t.list_id = p.list_id
)
SELECT (SELECT coalesce(max(level), 0) FROM placed),
       (SELECT count(*) FROM placed),
       (SELECT count(*) FROM tasks WHERE user_id = %(u)s),
       (SELECT count(*) FROM trash WHERE user_id = %(u)s),
       (SELECT tasks FROM task_counts WHERE user_id = %(u)s)
"""
# Each of the owner's lists whose stored counts (tasks, top level, and of each the open ones)
# are not its tasks': none.
LIST_COUNTS_OFF = """
SELECT l.id, c.tasks, c.top_level, c.pending, c.pending_top_level
  FROM lists AS l
  LEFT JOIN list_counts AS c ON c.user_id = l.user_id AND c.list_id = l.id
  LEFT JOIN tasks AS t ON t.user_id = l.user_id AND t.list_id = l.id
 WHERE l.user_id = %(u)s
 GROUP BY l.id, c.tasks, c.top_level, c.pending, c.pending_top_level
HAVING c.tasks IS DISTINCT FROM count(t.id)
    OR c.top_level IS DISTINCT FROM count(t.id) FILTER (WHERE t.parent_id IS NULL)
    OR c.pending IS DISTINCT FROM count(t.id) FILTER (WHERE NOT t.is_completed)
    OR c.pending_top_level
       IS DISTINCT FROM count(t.id) FILTER (WHERE NOT t.is_completed AND t.parent_id IS NULL)
"""


def shape(sql: psycopg.Connection[Any], owner: User) -> tuple[int, int, int, int, int]:
    """(deepest level, tasks reached from the top within their parent's list, tasks, trashed,
    the stored count)."""
    row = sql.execute(SHAPE, {"u": owner.id}).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3], row[4]


def known(sql: psycopg.Connection[Any], owner: User) -> tuple[list[str], list[str], list[str]]:
    """The owner's live task ids, trashed task ids and list ids."""
    ids = [
        [str(r[0]) for r in sql.execute(query, (owner.id,)).fetchall()]
        for query in (
            "SELECT id FROM tasks WHERE user_id = %s",
            "SELECT id FROM trash WHERE user_id = %s",
            "SELECT id FROM lists WHERE user_id = %s",
        )
    ]
    return ids[0], ids[1], ids[2]


def storm_wave(
    api: Api, owner: User, rng: random.Random, tasks: list[str], trash: list[str], lists: list[str]
) -> list[Callable[[], Any]]:
    def some(ids: list[str]) -> str:
        return rng.choice(ids) if ids else "00000000-0000-4000-8000-000000000000"

    def one() -> Callable[[], Any]:
        kind = rng.randrange(12)
        if kind == 0:
            return later(
                api, owner, "POST", "/tasks", json={"title": "top", "list_id": some(lists)}
            )
        if kind == 1:
            return later(
                api, owner, "POST", "/tasks", json={"title": "sub", "parent_id": some(tasks)}
            )
        if kind == 2:
            ops = [
                {"op": "create", "body": {"title": "b", "parent_id": some(tasks)}},
                {"op": "move", "task_id": some(tasks), "body": {"parent_id": some(tasks)}},
                {"op": "delete", "task_id": some(tasks)},
                {"op": "create", "body": {"title": "b"}},
                {"op": "complete", "task_id": some(tasks)},
                {"op": "update", "task_id": some(tasks), "body": {"is_completed": False}},
                {"op": "create", "body": {"title": "done", "is_completed": True}},
            ]
            body = {"operations": rng.sample(ops, 3), "atomic": rng.random() < 0.5}
            return later(api, owner, "POST", "/tasks/batch", json=body)
        if kind in (3, 4):
            parent = None if rng.random() < 0.2 else some(tasks)
            move: dict[str, Any] = {"parent_id": parent}
            if parent is None and rng.random() < 0.5:
                move["list_id"] = some(lists)
            return later(api, owner, "POST", f"/tasks/{some(tasks)}/move", json=move)
        if kind == 5:
            return later(api, owner, "DELETE", f"/tasks/{some(tasks)}")
        if kind in (6, 7):
            return later(api, owner, "POST", f"/trash/{some(trash)}/restore")
        if kind == 8:
            return later(api, owner, "DELETE", f"/trash/{some(trash)}")
        if kind == 9:
            return later(api, owner, "PATCH", f"/tasks/{some(tasks)}/complete")
        if kind == 10:
            return later(api, owner, "POST", "/tasks/clear-completed", json={})
        if rng.random() < 0.5:
            return later(api, owner, "POST", "/lists", json={"name": "storm"})
        return later(api, owner, "DELETE", f"/lists/{some(lists)}")

    return [one() for _ in range(WIDTH)]


def assert_page_totals(api: Api, owner: User, sql: psycopg.Connection[Any]) -> None:
    """Every page's total (all tasks, the top level, each list, each list's top level; of each,
    all, the open and the finished ones) is the number of its tasks."""
    rows = sql.execute(
        "SELECT list_id, is_completed, count(*), count(*) FILTER (WHERE parent_id IS NULL)"
        " FROM tasks WHERE user_id = %s GROUP BY list_id, is_completed",
        (owner.id,),
    ).fetchall()
    counted = {(str(r[0]), r[1]): (r[2], r[3]) for r in rows}
    _, _, lists = known(sql, owner)
    statuses = {"all": (False, True), "pending": (False,), "completed": (True,)}
    expected = {}
    for status, finished in statuses.items():
        base = f"/api/{owner.id}/tasks?limit=1&status={status}"
        for in_list in (None, *lists):
            page = base if in_list is None else f"{base}&list_id={in_list}"
            found = [
                counted.get((list_id, done), (0, 0))
                for list_id in (lists if in_list is None else [in_list])
                for done in finished
            ]
            expected[page] = sum(tasks for tasks, _ in found)
            expected[f"{page}&parent_id=none"] = sum(top for _, top in found)
    got = {path: api.get(path, headers=owner.headers).json()["total"] for path in expected}
    assert got == expected
    assert any(total for path, total in got.items() if "status=completed" in path)


@pytest.mark.parametrize("seed", [7, 23])
def test_a_storm_of_concurrent_writes_keeps_every_rule(
    seed: int,
    make_api: Callable[..., Api],
    settings: Settings,
    user: User,
    sql: psycopg.Connection[Any],
) -> None:
    rng, owner_id = random.Random(seed), user.id
    statuses: Counter[int] = Counter()
    with make_api(dataclasses.replace(settings, task_quota=QUOTA, list_quota=6)) as api:
        for wave in range(WAVES):
            tasks, trash, lists = known(sql, user)
            calls = storm_wave(api, user, rng, tasks, trash, lists)
            if wave % 10 == 9:  # now and then, empty the trash with the rest
                calls.append(later(api, user, "DELETE", "/trash"))
            for response in api.gather(*calls):
                statuses[response.status_code] += 1
                assert response.status_code < 500, response.text
                if response.request.url.path.endswith("/batch") and response.status_code == 200:
                    results = response.json()["results"]
                    assert all(r["status"] < 500 for r in results), results
            deepest, reached, live, trashed, counted = shape(sql, user)
            assert deepest <= 4
            assert reached == live  # every task under a parent of its own list, no cycle
            assert counted == live + trashed <= QUOTA
            assert sql.execute(LIST_COUNTS_OFF, {"u": owner_id}).fetchall() == []
        for task_id in known(sql, user)[0][:3]:  # finished ones too, whatever the storm left
            done = {"is_completed": True}
            path = f"/api/{owner_id}/tasks/{task_id}/complete"
            assert api.patch(path, json=done, headers=user.headers).status_code == 200
        assert_page_totals(api, user, sql)
    assert statuses[201] > 0
    assert statuses[200] > 0
