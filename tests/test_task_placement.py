"""Placement of tasks (SPEC §6): create into a list or under a parent, PUT and PATCH keep
placement, every 422 of a move, descendants travel, completion cascades down, deletion takes
descendants, the listing and stats filters, the task quota; always with a second user, whose
lists, tasks and siblings are indistinguishable from missing ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from server.config import Settings
from tests.conftest import User
from tests.support import Api
from tests.test_lists import lists_of, make_list

Task = dict[str, Any]
MakeTask = Callable[..., Task]
UNKNOWN = "9b8e6a2c-3f1d-4c7a-8e5b-6a4f2c1d0e93"


def move(api: Api, owner: User, task: Task | str, **body: Any) -> Any:
    task_id = task if isinstance(task, str) else task["id"]
    headers = {**owner.headers, **body.pop("headers", {})}
    return api.post(f"/api/{owner.id}/tasks/{task_id}/move", json=body, headers=headers)


def moved(api: Api, owner: User, task: Task | str, **body: Any) -> Task:
    response = move(api, owner, task, **body)
    assert response.status_code == 200, response.text
    result: Task = response.json()
    return result


def refused_at(response: Any) -> list[Any]:
    assert response.status_code == 422, response.text
    loc: list[Any] = response.json()["errors"][0]["loc"]
    return loc


def children(api: Api, owner: User, parent: str = "none", **params: Any) -> list[str]:
    query = {"parent_id": parent, "sort": "position", "limit": 100, **params}
    response = api.get(f"/api/{owner.id}/tasks", headers=owner.headers, params=query)
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["tasks"]]


def get(api: Api, owner: User, task: Task) -> Task:
    found: Task = api.get(f"/api/{owner.id}/tasks/{task['id']}", headers=owner.headers).json()
    return found


@pytest.fixture
def chain(user: User, make_task: MakeTask) -> list[Task]:
    """Four tasks, each the child of the one before: levels 1 to 4."""
    made = [make_task(user, title="L1")]
    for level in (2, 3, 4):
        made.append(make_task(user, title=f"L{level}", parent_id=made[-1]["id"]))
    return made


def test_a_new_task_goes_to_the_inbox_top_level_last(
    api: Api, user: User, make_task: MakeTask
) -> None:
    [inbox] = lists_of(api, user)
    first, second = make_task(user, title="first"), make_task(user, title="second")
    assert first["list_id"] == inbox["id"]
    assert first["parent_id"] is None
    assert first["position"].encode() < second["position"].encode()
    assert children(api, user, list_id=inbox["id"]) == ["first", "second"]


def test_create_into_a_list_and_under_a_parent(api: Api, user: User, make_task: MakeTask) -> None:
    work = make_list(api, user, "Work")
    parent = make_task(user, title="parent", list_id=work["id"])
    child = make_task(user, title="child", parent_id=parent["id"])
    assert child["list_id"] == work["id"]
    assert child["parent_id"] == parent["id"]
    same = make_task(user, title="again", parent_id=parent["id"], list_id=work["id"])
    assert children(api, user, parent["id"]) == ["child", "again"]
    assert same["list_id"] == work["id"]


def test_create_refuses_foreign_lists_and_parents_and_level_five(
    api: Api, user: User, other_user: User, make_task: MakeTask, chain: list[Task]
) -> None:
    theirs = make_list(api, other_user)
    their_task = make_task(other_user)
    url = f"/api/{user.id}/tasks"
    cases = [
        ({"list_id": theirs["id"]}, ["body", "list_id"]),
        ({"list_id": UNKNOWN}, ["body", "list_id"]),
        ({"parent_id": their_task["id"]}, ["body", "parent_id"]),
        ({"parent_id": chain[3]["id"]}, ["body", "parent_id"]),
        ({"parent_id": chain[0]["id"], "list_id": make_list(api, user)["id"]}, ["body", "list_id"]),
    ]
    for body, loc in cases:
        response = api.post(url, json={"title": "x", **body}, headers=user.headers)
        assert refused_at(response) == loc, body
    assert api.get(url, headers=user.headers).json()["total"] == 4


def test_put_and_patch_keep_placement_and_refuse_it(
    api: Api, user: User, chain: list[Task]
) -> None:
    child = chain[1]
    url = f"/api/{user.id}/tasks/{child['id']}"
    replaced = api.put(url, json={"title": "renamed"}, headers=user.headers).json()
    assert {k: replaced[k] for k in ("list_id", "parent_id", "position")} == {
        k: child[k] for k in ("list_id", "parent_id", "position")
    }
    for field, value in (("list_id", child["list_id"]), ("parent_id", None), ("position", "a")):
        for method in ("PUT", "PATCH"):
            body = {"title": "x", field: value}
            response = api.request(method, url, json=body, headers=user.headers)
            assert refused_at(response) == ["body", field], (method, field)
    assert get(api, user, child)["version"] == 2


def test_move_into_another_list_takes_the_descendants(
    api: Api, user: User, chain: list[Task]
) -> None:
    work = make_list(api, user, "Work")
    result = moved(api, user, chain[1], list_id=work["id"])
    assert result["list_id"] == work["id"]
    assert result["parent_id"] is None
    assert result["version"] == chain[1]["version"] + 1
    for task in chain[2:]:
        after = get(api, user, task)
        assert after["list_id"] == work["id"]
        assert after["version"] == task["version"] + 1
        assert after["parent_id"] == task["parent_id"]
    assert get(api, user, chain[0])["version"] == chain[0]["version"]
    assert children(api, user, list_id=work["id"]) == ["L2"]
    assert children(api, user, chain[1]["id"]) == ["L3"]


def test_move_rules_each_422_at_its_field(
    api: Api, user: User, other_user: User, make_task: MakeTask, chain: list[Task]
) -> None:
    theirs = make_list(api, other_user)
    their_task = make_task(other_user)
    work = make_list(api, user, "Work")
    loose = make_task(user, title="loose")
    in_work = make_task(user, title="in work", list_id=work["id"])
    cases = [
        (chain[1], {"list_id": theirs["id"]}, "list_id"),
        (chain[1], {"list_id": UNKNOWN}, "list_id"),
        (loose, {"parent_id": their_task["id"]}, "parent_id"),
        (loose, {"parent_id": UNKNOWN}, "parent_id"),
        (loose, {"parent_id": chain[0]["id"], "list_id": work["id"]}, "parent_id"),
        (chain[0], {"parent_id": chain[0]["id"]}, "parent_id"),
        (chain[0], {"parent_id": chain[2]["id"]}, "parent_id"),
        (loose, {"parent_id": chain[3]["id"]}, "parent_id"),
        (
            chain[1],
            {"parent_id": loose["id"], "after_id": None, "list_id": chain[0]["list_id"]},
            None,
        ),
        (chain[2], {"parent_id": in_work["id"], "after_id": None}, None),
        (loose, {"after_id": their_task["id"]}, "after_id"),
        (loose, {"after_id": in_work["id"]}, "after_id"),
        (loose, {"after_id": loose["id"]}, "after_id"),
        (loose, {"parent_id": chain[0]["id"], "after_id": chain[0]["id"]}, "after_id"),
    ]
    for task, body, field in cases:
        response = move(api, user, task, **body)
        if field is None:  # allowed: L2 (height 3) under a level-1 task; L3 under in_work
            assert response.status_code == 200, (body, response.text)
            continue
        assert refused_at(response) == ["body", field], body
    # loose now has L2 under it (height 2); L4 is at level 3 (in work > L3 > L4): 3 + 2 > 4
    assert refused_at(move(api, user, loose, parent_id=chain[3]["id"])) == ["body", "parent_id"]
    assert moved(api, user, loose, parent_id=chain[2]["id"])["list_id"] == work["id"]
    assert move(api, user, their_task).status_code == 404


def test_parent_omitted_kept_in_its_list_top_level_across_lists(
    api: Api, user: User, make_task: MakeTask, chain: list[Task]
) -> None:
    sibling = make_task(user, title="sib", parent_id=chain[0]["id"])
    first = moved(api, user, sibling, after_id=None)
    assert first["parent_id"] == chain[0]["id"]
    assert children(api, user, chain[0]["id"]) == ["sib", "L2"]
    last = moved(api, user, sibling)
    assert children(api, user, chain[0]["id"]) == ["L2", "sib"]
    assert last["parent_id"]
    under = moved(api, user, sibling, parent_id=chain[1]["id"])
    assert under["list_id"] == chain[0]["list_id"]
    top = moved(api, user, sibling, parent_id=None, after_id=chain[0]["id"])
    assert top["parent_id"] is None
    assert children(api, user) == ["L1", "sib"]
    stale = move(api, user, sibling, headers={"If-Match": f'"{top["version"] - 1}"'})
    assert stale.status_code == 412
    fresh = move(api, user, sibling, after_id=None, headers={"If-Match": f'"{top["version"]}"'})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == f'"{top["version"] + 1}"'


def test_completing_cascades_to_open_descendants_only_downwards(
    api: Api, user: User, chain: list[Task]
) -> None:
    done = api.patch(
        f"/api/{user.id}/tasks/{chain[2]['id']}/complete", headers=user.headers, json=None
    )
    assert done.status_code == 200
    url = f"/api/{user.id}/tasks/{chain[0]['id']}/complete"
    parent = api.patch(url, json={"is_completed": True}, headers=user.headers).json()
    assert parent["is_completed"]
    after = [get(api, user, task) for task in chain]
    assert all(task["is_completed"] for task in after)
    # L3 was already done: left alone; L2 and L4 were open: completed, one change each
    assert [t["version"] - c["version"] for t, c in zip(after, chain, strict=True)] == [1, 1, 1, 1]
    reopened = api.patch(url, json={"is_completed": False}, headers=user.headers).json()
    assert not reopened["is_completed"]
    assert all(get(api, user, task)["is_completed"] for task in chain[1:])


def test_patch_completion_cascades_too(api: Api, user: User, chain: list[Task]) -> None:
    url = f"/api/{user.id}/tasks/{chain[1]['id']}"
    api.patch(url, json={"is_completed": True}, headers=user.headers)
    assert [get(api, user, t)["is_completed"] for t in chain] == [False, True, True, True]


def test_deleting_takes_the_descendants(api: Api, user: User, chain: list[Task]) -> None:
    assert (
        api.delete(f"/api/{user.id}/tasks/{chain[1]['id']}", headers=user.headers).status_code
        == 204
    )
    statuses = [
        api.get(f"/api/{user.id}/tasks/{t['id']}", headers=user.headers).status_code for t in chain
    ]
    assert statuses == [200, 404, 404, 404]


def test_listing_filters_and_stats_by_list(
    api: Api, user: User, other_user: User, make_task: MakeTask, chain: list[Task]
) -> None:
    work = make_list(api, user, "Work")
    make_task(user, title="w1", list_id=work["id"], is_completed=True)
    make_task(other_user, title="theirs")
    page = api.get(f"/api/{user.id}/tasks", headers=user.headers, params={"list_id": work["id"]})
    assert [t["title"] for t in page.json()["tasks"]] == ["w1"]
    assert children(api, user, chain[1]["id"]) == ["L3"]
    assert sorted(children(api, user)) == ["L1", "w1"]  # each list's top level, lists apart
    stats = api.get(f"/api/{user.id}/stats", headers=user.headers, params={"list_id": work["id"]})
    assert stats.json()["total"] == 1
    assert stats.json()["completed"] == 1
    their_list = lists_of(api, other_user)[0]["id"]
    none = api.get(f"/api/{user.id}/tasks", headers=user.headers, params={"list_id": their_list})
    assert none.json()["total"] == 0
    foreign = api.get(
        f"/api/{user.id}/tasks", headers=user.headers, params={"parent_id": chain[0]["id"]}
    )
    assert [t["title"] for t in foreign.json()["tasks"]] == ["L2"]
    assert api.get(f"/api/{user.id}/stats", headers=user.headers).json()["total"] == 5


def test_sort_position_pages_by_cursor_and_offset_alike(
    api: Api, user: User, make_task: MakeTask
) -> None:
    made = [make_task(user, title=f"t{n:02}") for n in range(25)]
    moved(api, user, made[-1], after_id=None)
    expected = [made[-1]["title"]] + [t["title"] for t in made[:-1]]
    seen, cursor = [], None
    while True:
        params = {"sort": "position", "limit": 7, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/api/{user.id}/tasks", headers=user.headers, params=params).json()
        seen += [t["title"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    by_offset = api.get(
        f"/api/{user.id}/tasks",
        headers=user.headers,
        params={"sort": "position", "offset": 20, "order": "desc"},
    ).json()
    assert [t["title"] for t in by_offset["tasks"]] == expected[::-1][20:]


def test_task_quota(make_api: Callable[..., Api], settings: Settings, user: User) -> None:
    with make_api(dataclasses.replace(settings, task_quota=2)) as small:
        url = f"/api/{user.id}/tasks"
        for _ in range(2):
            assert small.post(url, json={"title": "x"}, headers=user.headers).status_code == 201
        response = small.post(url, json={"title": "x"}, headers=user.headers)
        assert response.status_code == 409
        assert response.json()["type"].endswith(":quota-exceeded")
        first = small.get(url, headers=user.headers).json()["tasks"][0]["id"]
        under = small.post(url, json={"title": "x", "parent_id": first}, headers=user.headers)
        assert under.status_code == 409
