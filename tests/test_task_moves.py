"""Moves at scale: 1,000 random moves against a model of the expected order, insertion again
and again between the same two siblings, and concurrent moves that would make a cycle."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from tests.conftest import User
from tests.support import Api
from tests.test_lists import lists_of, make_list
from tests.test_task_placement import move

pytestmark = pytest.mark.slow  # a thousand moves and more: about a minute

MAX_LEVEL = 4
Group = tuple[str, str | None]  # (list_id, parent_id)


class Model:
    """The expected placement: each sibling group's ids in order, and each task's group."""

    def __init__(self) -> None:
        self.groups: dict[Group, list[str]] = defaultdict(list)
        self.group_of: dict[str, Group] = {}

    def add(self, task_id: str, group: Group) -> None:
        self.groups[group].append(task_id)
        self.group_of[task_id] = group

    def level(self, task_id: str) -> int:
        parent = self.group_of[task_id][1]
        return 1 if parent is None else 1 + self.level(parent)

    def subtree(self, task_id: str) -> list[str]:
        found = [task_id]
        for child in self.groups[(self.group_of[task_id][0], task_id)]:
            found += self.subtree(child)
        return found

    def height(self, task_id: str) -> int:
        return max(self.level(t) for t in self.subtree(task_id)) - self.level(task_id) + 1

    def expect(self, task_id: str, body: dict[str, Any], lists: set[str]) -> str | Group:
        """The field a move is refused at, or the group the task goes to."""
        own_list, own_parent = self.group_of[task_id]
        wanted = body.get("list_id")
        parent = body.get("parent_id", own_parent if wanted in (None, own_list) else None)
        if wanted is not None and wanted not in lists:
            return "list_id"
        if parent is None:
            return (wanted or own_list, None)
        if parent not in self.group_of:
            return "parent_id"
        parent_list = self.group_of[parent][0]
        if wanted not in (None, parent_list) or parent in self.subtree(task_id):
            return "parent_id"
        if self.level(parent) + self.height(task_id) > MAX_LEVEL:
            return "parent_id"
        return (parent_list, parent)

    def place(self, task_id: str, group: Group, after: Any) -> bool:
        """Move the task (after: a sibling id, None for first, "last"); False when after_id is
        not a sibling at the destination."""
        siblings = [t for t in self.groups[group] if t != task_id]
        if after not in (None, "last") and after not in siblings:
            return False
        old_list = self.group_of[task_id][0]
        moving = self.subtree(task_id)
        self.groups[self.group_of[task_id]].remove(task_id)
        index = {None: 0, "last": len(siblings)}.get(after)
        siblings.insert(siblings.index(after) + 1 if index is None else index, task_id)
        self.groups[group] = siblings
        self.group_of[task_id] = group
        if old_list != group[0]:  # the descendants' groups follow to the new list
            for node in moving:
                kids = self.groups.pop((old_list, node), [])
                self.groups[(group[0], node)] = kids
                for kid in kids:
                    self.group_of[kid] = (group[0], node)
        return True

    def stored_order(self) -> dict[Group, list[str]]:
        return {g: ids for g, ids in self.groups.items() if ids}


def stored(sql: psycopg.Connection[Any], user: User) -> dict[Group, list[str]]:
    rows = sql.execute(
        "SELECT id::text, list_id::text, parent_id::text, position FROM tasks"
        " WHERE user_id = %s ORDER BY list_id, parent_key, position",
        (user.id,),
    ).fetchall()
    assert all(len(position) <= 64 for *_, position in rows)
    groups: dict[Group, list[str]] = defaultdict(list)
    for task_id, list_id, parent_id, _position in rows:
        groups[(list_id, parent_id)].append(task_id)
    return dict(groups)


def create(api: Api, user: User, **body: Any) -> str:
    response = api.post(f"/api/{user.id}/tasks", json={"title": "t", **body}, headers=user.headers)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def under(api: Api, user: User, task_id: str, parent_id: str) -> Callable[[], Awaitable[Any]]:
    """A request, to send concurrently with others, that moves a task under a parent."""
    url = f"/api/{user.id}/tasks/{task_id}/move"
    return lambda: api.arequest("POST", url, json={"parent_id": parent_id}, headers=user.headers)


def test_a_thousand_random_moves_follow_the_model(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    rng = random.Random(14)
    inbox = lists_of(api, user)[0]["id"]
    lists = [inbox, make_list(api, user, "Work")["id"], make_list(api, user, "Home")["id"]]
    foreign = create(api, other_user)
    model = Model()
    for n in range(15):
        list_id = lists[n % 3]
        model.add(create(api, user, list_id=list_id), (list_id, None))
    tasks = list(model.group_of)
    refused = 0
    for step in range(1_000):
        task_id = rng.choice(tasks)
        body: dict[str, Any] = {}
        if rng.random() < 0.3:
            body["list_id"] = rng.choice([*lists, lists[0]])
        roll = rng.random()
        if roll < 0.4:
            body["parent_id"] = rng.choice(tasks)
        elif roll < 0.55:
            body["parent_id"] = None
        elif roll < 0.57:
            body["parent_id"] = foreign
        outcome = model.expect(task_id, body, set(lists))
        if isinstance(outcome, tuple):
            siblings = [t for t in model.groups[outcome] if t != task_id]
            roll = rng.random()
            if roll < 0.6 and siblings:
                body["after_id"] = rng.choice(siblings)
            elif roll < 0.8:
                body["after_id"] = None
            elif roll < 0.85:
                body["after_id"] = rng.choice(tasks)  # a sibling or not
        response = move(api, user, task_id, **body)
        if isinstance(outcome, str):
            assert response.status_code == 422, (step, body, response.text)
            assert response.json()["errors"][0]["loc"] == ["body", outcome], (step, body)
            refused += 1
            continue
        after = body.get("after_id", "last")
        if not model.place(task_id, outcome, after):
            assert response.status_code == 422, (step, body, response.text)
            assert response.json()["errors"][0]["loc"] == ["body", "after_id"]
            refused += 1
            continue
        assert response.status_code == 200, (step, body, response.text)
        assert stored(sql, user) == model.stored_order(), (step, body)
    assert 50 < refused < 700  # both kinds of outcome were exercised


def test_inserting_between_the_same_two_siblings_keeps_positions_short(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    expected = [create(api, user, title=f"t{n}") for n in range(20)]
    first = expected[0]
    for _ in range(600):  # the one before last goes right after the first, again and again
        task_id = expected.pop(-2)
        response = move(api, user, task_id, after_id=first)
        assert response.status_code == 200, response.text
        expected.insert(1, task_id)
    rows = sql.execute(
        "SELECT id::text, position, version FROM tasks WHERE user_id = %s ORDER BY position",
        (user.id,),
    ).fetchall()
    assert [row[0] for row in rows] == expected
    assert max(len(row[1]) for row in rows) <= 64
    # crowded runs were renumbered: beyond the one change per move, each renumbered task's
    # version grew
    assert sum(row[2] - 1 for row in rows) > 600


def test_concurrent_moves_that_would_make_a_cycle_leave_a_tree(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    for _ in range(10):
        a, b = create(api, user), create(api, user)
        responses = api.gather(under(api, user, a, b), under(api, user, b, a))
        assert sorted(r.status_code for r in responses) == [200, 422]
    cycles = sql.execute(
        """WITH RECURSIVE walk (id, parent_id, steps) AS (
               SELECT id, parent_id, 1 FROM tasks WHERE user_id = %s
               UNION ALL
               SELECT w.id, t.parent_id, w.steps + 1 FROM walk AS w JOIN tasks AS t
                   ON t.id = w.parent_id WHERE w.steps < 10)
           SELECT count(*) FROM walk WHERE parent_id IS NOT NULL AND steps >= 5""",
        (user.id,),
    ).fetchone()
    assert cycles == (0,)


def test_concurrent_moves_cannot_make_a_fifth_level(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    top = create(api, user)
    second = create(api, user, parent_id=top)
    third = create(api, user, parent_id=second)
    pair = create(api, user)
    create(api, user, parent_id=pair)  # pair has height 2
    other = create(api, user)
    # each alone is allowed; together they would put pair's child at level 5
    responses = api.gather(under(api, user, pair, other), under(api, user, other, third))
    assert sorted(r.status_code for r in responses) == [200, 422]
    depth = sql.execute(
        """WITH RECURSIVE walk (id, level) AS (
               SELECT id, 1 FROM tasks WHERE user_id = %s AND parent_id IS NULL
               UNION ALL
               SELECT t.id, w.level + 1 FROM tasks AS t JOIN walk AS w ON t.parent_id = w.id)
           SELECT max(level) FROM walk""",
        (user.id,),
    ).fetchone()
    assert depth is not None
    assert depth[0] <= MAX_LEVEL
