"""Every member's change feed (SPEC §11 "Sync"): a member's /changes carries the shared lists'
lists and tasks (joining brings their state as upserts, leaving or removal their deletes, a
role change a list upsert, a task moved out of their sight a delete and back an upsert); the
owner's account deleted deletes its lists in every member's feed. Memberships are rows of
list_members written here directly (the members endpoints are another piece's)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest

from server.config import Settings
from server.db.queries import load_queries
from server.system import purger
from tests.support import Api, User
from tests.test_events import stream


class Follower:
    """A client following /changes: its copy of what it was told, keyed kind:id."""

    def __init__(self, api: Api, who: User) -> None:
        self.api, self.who, self.since = api, who, None
        self.copy: dict[str, dict[str, Any]] = {}
        self.seen: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while True:
            params = {"limit": 50, **({"since": self.since} if self.since else {})}
            response = self.api.get(
                f"/api/{self.who.id}/changes", params=params, headers=self.who.headers
            )
            assert response.status_code == 200, response.text
            page = response.json()
            for change in page["changes"]:
                key = f"{change['kind']}:{change['id']}"
                if change["op"] == "delete":
                    self.copy.pop(key, None)
                else:
                    self.copy[key] = change["data"]
            got += page["changes"]
            self.since = page["next_since"]
            if not page["has_more"]:
                self.seen += got
                return got


def share(sql: psycopg.Connection[Any], owner: User, list_id: str, member: User, role: str) -> None:
    sql.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role) VALUES (%s, %s, %s, %s)",
        (list_id, owner.id, member.id, role),
    )


def unshare(sql: psycopg.Connection[Any], list_id: str, member: User) -> None:
    sql.execute(
        "DELETE FROM list_members WHERE list_id = %s AND member_id = %s", (list_id, member.id)
    )


def make_list(api: Api, owner: User, name: str) -> dict[str, Any]:
    response = api.post(f"/api/{owner.id}/lists", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def make_task(api: Api, owner: User, title: str, list_id: str | None = None) -> dict[str, Any]:
    body = {"title": title, **({"list_id": list_id} if list_id else {})}
    response = api.post(f"/api/{owner.id}/tasks", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def keys(changes: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(c["op"], c["kind"], c["id"]) for c in changes]


def test_joining_brings_the_list_and_its_live_tasks_and_later_writes(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    shared = make_list(api, user, "Groceries")
    milk, bread = (make_task(api, user, t, shared["id"]) for t in ("milk", "bread"))
    gone = make_task(api, user, "gone", shared["id"])
    assert api.delete(f"/api/{user.id}/tasks/{gone['id']}", headers=user.headers).status_code == 204
    private = make_task(api, user, "private")
    member = Follower(api, other_user)
    member.poll()
    own = dict(member.copy)

    share(sql, user, shared["id"], other_user, "editor")
    joined = member.poll()
    assert {k for k in member.copy} - set(own) == {
        f"list:{shared['id']}",
        f"task:{milk['id']}",
        f"task:{bread['id']}",
    }
    assert joined[0]["kind"] == "list", "the list comes before its tasks"
    assert member.copy[f"task:{milk['id']}"] == milk
    [(position,)] = sql.execute(
        "SELECT position FROM list_members WHERE member_id = %s", (other_user.id,)
    )
    now = api.get(f"/api/{user.id}/lists/{shared['id']}", headers=user.headers).json()
    assert now["version"] == shared["version"] + 1  # a membership begun: a new version
    seen = {**now, "position": position, "role": "editor"}
    assert (seen["shared"], seen["member_count"]) == (True, 1)
    assert member.copy[f"list:{shared['id']}"] == seen  # the member's place and role
    as_read = api.get(f"/api/{other_user.id}/lists/{shared['id']}", headers=other_user.headers)
    assert as_read.json() == seen

    renamed = api.patch(
        f"/api/{user.id}/tasks/{milk['id']}", json={"title": "oat milk"}, headers=user.headers
    ).json()
    make_task(api, user, "more private")
    assert keys(member.poll()) == [("upsert", "task", milk["id"])]
    assert member.copy[f"task:{milk['id']}"] == renamed
    assert f"task:{private['id']}" not in member.copy

    full = Follower(api, other_user)  # a full sync sees the same
    full.poll()
    assert full.copy == member.copy


def test_a_task_moved_out_of_sight_is_a_delete_and_back_an_upsert(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    shared = make_list(api, user, "Shared")
    task = make_task(api, user, "travels", shared["id"])
    share(sql, user, shared["id"], other_user, "viewer")
    member = Follower(api, other_user)
    member.poll()
    assert f"task:{task['id']}" in member.copy

    inbox = next(
        x
        for x in api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"]
        if x["is_inbox"]
    )
    moved = api.post(
        f"/api/{user.id}/tasks/{task['id']}/move",
        json={"list_id": inbox["id"]},
        headers=user.headers,
    )
    assert moved.status_code == 200, moved.text
    assert keys(member.poll()) == [("delete", "task", task["id"])]
    back = api.post(
        f"/api/{user.id}/tasks/{task['id']}/move",
        json={"list_id": shared["id"]},
        headers=user.headers,
    )
    assert keys(member.poll()) == [("upsert", "task", task["id"])]
    assert member.copy[f"task:{task['id']}"] == back.json()

    assert api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers).status_code == 204
    assert keys(member.poll()) == [("delete", "task", task["id"])]
    restored = api.post(f"/api/{user.id}/trash/{task['id']}/restore", headers=user.headers)
    assert keys(member.poll()) == [("upsert", "task", task["id"])]
    assert member.copy[f"task:{task['id']}"] == restored.json()


def test_a_role_change_is_a_list_upsert_and_removal_deletes_everything_held(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    shared = make_list(api, user, "Team")
    tasks = [make_task(api, user, f"t{i}", shared["id"]) for i in range(3)]
    share(sql, user, shared["id"], other_user, "editor")
    member = Follower(api, other_user)
    member.poll()
    mine = dict(member.copy)

    sql.execute("UPDATE list_members SET role = 'viewer' WHERE member_id = %s", (other_user.id,))
    assert keys(member.poll()) == [("upsert", "list", shared["id"])]

    unshare(sql, shared["id"], other_user)
    removal = member.poll()
    assert sorted(keys(removal)) == sorted(
        [("delete", "list", shared["id"])] + [("delete", "task", t["id"]) for t in tasks]
    )
    make_task(api, user, "after", shared["id"])
    api.patch(f"/api/{user.id}/tasks/{tasks[0]['id']}", json={"title": "x"}, headers=user.headers)
    assert member.poll() == []
    assert {k: v for k, v in member.copy.items()} == {
        k: v for k, v in mine.items() if shared["id"] not in k and v.get("list_id") != shared["id"]
    }

    share(sql, user, shared["id"], other_user, "viewer")  # rejoining brings it all back
    assert len(member.poll()) == 1 + 4


def test_deleting_the_owners_account_deletes_its_lists_in_every_members_feed(
    api: Api, user: User, other_user: User, make_user: Any, sql: psycopg.Connection[Any]
) -> None:
    third = make_user(name="Third")
    shared = make_list(api, user, "Shared")
    task = make_task(api, user, "t", shared["id"])
    followers = []
    for member in (other_user, third):
        share(sql, user, shared["id"], member, "editor")
        followers.append(Follower(api, member))
        followers[-1].poll()
    sql.execute("DELETE FROM users WHERE id = %s", (user.id,))
    for follower in followers:
        assert sorted(keys(follower.poll())) == sorted(
            [("delete", "list", shared["id"]), ("delete", "task", task["id"])]
        )
        assert all(v["user_id"] == follower.who.id for v in follower.copy.values())


def test_a_members_account_deleted_leaves_the_list_to_the_others(
    api: Api, user: User, other_user: User, make_user: Any, sql: psycopg.Connection[Any]
) -> None:
    third = make_user(name="Third")
    shared = make_list(api, user, "Shared")
    share(sql, user, shared["id"], other_user, "editor")
    share(sql, user, shared["id"], third, "editor")
    follower = Follower(api, third)
    follower.poll()
    sql.execute("DELETE FROM users WHERE id = %s", (other_user.id,))
    assert keys(follower.poll()) == [("upsert", "list", shared["id"])]
    [(count,)] = sql.execute(
        "SELECT count(*) FROM list_members WHERE list_id = %s", (shared["id"],)
    )
    assert count == 1


@pytest.mark.parametrize("unshared", [True, False])
def test_the_owners_feed_and_since_tokens_stay_as_they_were(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], unshared: bool
) -> None:
    shared = make_list(api, user, "L")
    owner = Follower(api, user)
    owner.poll()
    before = owner.since
    if not unshared:
        share(sql, user, shared["id"], other_user, "editor")
    task = make_task(api, user, "t", shared["id"])
    changes = owner.poll()
    assert ("upsert", "task", task["id"]) in keys(changes)
    again = api.get(f"/api/{user.id}/changes", params={"since": before}, headers=user.headers)
    assert again.status_code == 200
    assert keys(again.json()["changes"]) == keys(changes)


def test_a_members_deletes_older_than_retention_make_their_since_410(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    shared = make_list(api, user, "Shared")
    share(sql, user, shared["id"], other_user, "editor")
    member = Follower(api, other_user)
    member.poll()
    since = member.since
    unshare(sql, shared["id"], other_user)
    member.poll()
    sql.execute("UPDATE member_changes SET changed_at = now() - interval '31 days'")
    counts = api.run(purger.purge(api.app.ctx.db, load_queries(), settings))
    assert counts["purge_tombstones"] == 1
    response = api.get(
        f"/api/{other_user.id}/changes", params={"since": since}, headers=other_user.headers
    )
    assert response.status_code == 410
    member.poll()  # the token after the deletes still works


def test_a_members_stream_hears_the_list_and_stops_hearing_it_once_removed(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    shared = make_list(api, user, "Shared")
    share(sql, user, shared["id"], other_user, "editor")

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, other_user) as theirs,
        ):

            async def write(owner: User, title: str, list_id: str | None) -> dict[str, Any]:
                body = {"title": title, **({"list_id": list_id} if list_id else {})}
                made = await client.post(f"/api/{owner.id}/tasks", json=body, headers=owner.headers)
                assert made.status_code == 201, made.text
                task: dict[str, Any] = made.json()
                return task

            task = await write(user, "shared", shared["id"])
            event = await theirs.next(within=1)
            assert event["data"] == {
                "kind": "task",
                "op": "upsert",
                "id": task["id"],
                "data": task,
                "changed_at": task["updated_at"],
            }
            await asyncio.to_thread(unshare, sql, shared["id"], other_user)
            removal = await theirs.changes(2, within=1)
            assert sorted((e["data"]["op"], e["data"]["id"]) for e in removal) == sorted(
                [("delete", shared["id"]), ("delete", task["id"])]
            )
            await write(user, "not for them", shared["id"])
            sentinel = await write(other_user, "their own", None)
            event = await theirs.next(within=1)  # the next thing they hear is their own
            assert (event["data"]["op"], event["data"]["id"]) == ("upsert", sentinel["id"])

    api.run(scenario())


def test_the_owner_deleting_a_shared_list_deletes_it_and_its_tasks_for_its_members(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    shared = make_list(api, user, "Shared")
    tasks = [make_task(api, user, f"t{i}", shared["id"]) for i in range(2)]
    child = api.post(
        f"/api/{user.id}/tasks",
        json={"title": "child", "parent_id": tasks[0]["id"]},
        headers=user.headers,
    ).json()
    share(sql, user, shared["id"], other_user, "editor")
    member = Follower(api, other_user)
    member.poll()
    assert f"task:{child['id']}" in member.copy

    response = api.delete(f"/api/{user.id}/lists/{shared['id']}", headers=user.headers)
    assert response.status_code == 204, response.text
    assert sorted(keys(member.poll())) == sorted(
        [("delete", "list", shared["id"])] + [("delete", "task", t["id"]) for t in [*tasks, child]]
    )
    assert all(v["user_id"] == other_user.id for v in member.copy.values())


def test_a_task_moved_between_shared_lists_stays_with_the_list_it_is_in(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    first, second = make_list(api, user, "First"), make_list(api, user, "Second")
    task = make_task(api, user, "travels", first["id"])
    note = api.post(
        f"/api/{user.id}/tasks/{task['id']}/comments", json={"body": "note"}, headers=user.headers
    ).json()
    for shared in (first, second):
        share(sql, user, shared["id"], other_user, "editor")
    member = Follower(api, other_user)
    member.poll()
    assert member.copy[f"comment:{note['id']}"] == note
    moved = api.post(
        f"/api/{user.id}/tasks/{task['id']}/move",
        json={"list_id": second["id"]},
        headers=user.headers,
    )
    assert keys(member.poll()) == [
        ("upsert", "task", task["id"]),
        ("upsert", "comment", note["id"]),
    ]
    unshare(sql, first["id"], other_user)  # leaving the list it came from keeps it, comment too
    assert keys(member.poll()) == [("delete", "list", first["id"])]
    assert member.copy[f"task:{task['id']}"] == moved.json()
    unshare(sql, second["id"], other_user)
    assert sorted(keys(member.poll())) == sorted(
        [
            ("delete", "list", second["id"]),
            ("delete", "task", task["id"]),
            ("delete", "comment", note["id"]),
        ]
    )


def test_a_comment_on_a_shared_task_reaches_the_member_and_leaves_with_its_task_to_the_trash(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    shared = make_list(api, user, "Shared")
    task = make_task(api, user, "discussed", shared["id"])
    share(sql, user, shared["id"], other_user, "editor")
    member = Follower(api, other_user)
    member.poll()

    response = api.post(
        f"/api/{user.id}/tasks/{task['id']}/comments",
        json={"body": "on it"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    made = response.json()
    assert keys(member.poll()) == [("upsert", "comment", made["id"])]
    assert member.copy[f"comment:{made['id']}"] == made

    response = api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    assert response.status_code == 204, response.text
    assert sorted(keys(member.poll())) == sorted(
        [("delete", "task", task["id"]), ("delete", "comment", made["id"])]
    )
    assert f"comment:{made['id']}" not in member.copy
