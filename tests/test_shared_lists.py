"""A member reads and writes a shared list's tasks as their role says (SPEC §11, issue 26): data
stays keyed by the owner, a non-member's 404 is a missing id's, a role too low is 403
permission-denied and changes nothing, the owner's quota counts the members' tasks, and one
statement decides each write against the role it finds."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from server.config import Settings
from tests.sharing import set_role, share, unshare
from tests.support import Api, User, until


@pytest.fixture
def stranger(make_user: Callable[..., User]) -> User:
    return make_user(name="Stan")


@pytest.fixture
def shared(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, viewer: User
) -> dict[str, Any]:
    """The owner's list "Groceries", shared with an editor and a viewer, holding one task."""
    made = api.post(f"/api/{owner.id}/lists", json={"name": "Groceries"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    listed = made.json()
    share(sql, owner, listed["id"], editor, "editor")
    share(sql, owner, listed["id"], viewer, "viewer")
    task = api.post(
        f"/api/{owner.id}/tasks",
        json={"title": "Milk", "list_id": listed["id"]},
        headers=owner.headers,
    ).json()
    return {"list": listed, "task": task}


def task_url(who: User, task_id: str) -> str:
    return f"/api/{who.id}/tasks/{task_id}"


def without_request(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k not in ("request_id", "instance")}


def test_a_member_reads_the_shared_task_as_the_owner_stores_it(
    api: Api, owner: User, editor: User, viewer: User, shared: dict[str, Any]
) -> None:
    task = shared["task"]
    for member in (editor, viewer):
        got = api.get(task_url(member, task["id"]), headers=member.headers)
        assert got.status_code == 200, got.text
        assert got.json() == task
        assert got.json()["user_id"] == owner.id
        assert (
            got.headers["ETag"]
            == api.get(task_url(owner, task["id"]), headers=owner.headers).headers["ETag"]
        )


def test_an_editor_creates_changes_completes_and_deletes_under_the_owner(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, shared: dict[str, Any]
) -> None:
    list_id = shared["list"]["id"]
    made = api.post(
        f"/api/{editor.id}/tasks",
        json={"title": "Eggs", "list_id": list_id},
        headers=editor.headers,
    )
    assert made.status_code == 201, made.text
    task = made.json()
    assert (task["user_id"], task["created_by"], task["list_id"]) == (owner.id, editor.id, list_id)
    patched = api.patch(
        task_url(editor, task["id"]), json={"title": "Brown eggs"}, headers=editor.headers
    )
    assert patched.status_code == 200, patched.text
    done = api.patch(
        f"{task_url(editor, task['id'])}/complete",
        json={"is_completed": True},
        headers=editor.headers,
    )
    assert done.status_code == 200, done.text
    assert (done.json()["is_completed"], done.json()["completed_by"]) == (True, editor.id)
    seen = api.get(task_url(owner, task["id"]), headers=owner.headers).json()
    assert (seen["title"], seen["completed_by"]) == ("Brown eggs", editor.id)
    assert api.delete(task_url(editor, task["id"]), headers=editor.headers).status_code == 204
    assert api.get(task_url(owner, task["id"]), headers=owner.headers).status_code == 404
    trashed = sql.execute("SELECT user_id::text, created_by::text FROM trash").fetchall()
    assert trashed == [(owner.id, editor.id)]


def test_a_viewer_trying_every_write_gets_403_and_changes_nothing(
    api: Api, owner: User, viewer: User, shared: dict[str, Any]
) -> None:
    task, list_id = shared["task"], shared["list"]["id"]
    url = task_url(viewer, task["id"])
    writes = [
        ("POST", f"/api/{viewer.id}/tasks", {"title": "Sneaky", "list_id": list_id}, "editor"),
        ("PUT", url, {"title": "Sneaky"}, "editor"),
        ("PATCH", url, {"title": "Sneaky"}, "editor"),
        ("PATCH", f"{url}/complete", {"is_completed": True}, "editor"),
        ("DELETE", url, None, "editor"),
        ("PATCH", f"/api/{viewer.id}/lists/{list_id}", {"name": "Mine"}, "owner"),
        ("DELETE", f"/api/{viewer.id}/lists/{list_id}", None, "owner"),
    ]
    before = api.get(f"/api/{owner.id}/tasks", headers=owner.headers).json()
    for method, path, body, needed in writes:
        refused = api.request(method, path, json=body, headers=viewer.headers)
        assert refused.status_code == 403, (method, path, refused.text)
        problem = refused.json()
        assert problem["type"].endswith("permission-denied"), problem
        assert problem["required_role"] == needed
        assert needed in problem["detail"]
    assert api.get(f"/api/{owner.id}/tasks", headers=owner.headers).json() == before
    assert api.get(f"/api/{owner.id}/lists/{list_id}", headers=owner.headers).json()["name"] == (
        "Groceries"
    )


def test_a_non_members_404_is_a_missing_ids_404(
    api: Api, stranger: User, shared: dict[str, Any]
) -> None:
    task, list_id = shared["task"], shared["list"]["id"]
    missing_task, missing_list = str(uuid.uuid4()), str(uuid.uuid4())
    pairs = [
        ("GET", task_url(stranger, task["id"]), task_url(stranger, missing_task), None),
        ("PATCH", task_url(stranger, task["id"]), task_url(stranger, missing_task), {"title": "x"}),
        ("DELETE", task_url(stranger, task["id"]), task_url(stranger, missing_task), None),
        (
            "GET",
            f"/api/{stranger.id}/lists/{list_id}",
            f"/api/{stranger.id}/lists/{missing_list}",
            None,
        ),
        (
            "PATCH",
            f"/api/{stranger.id}/lists/{list_id}",
            f"/api/{stranger.id}/lists/{missing_list}",
            {"name": "x"},
        ),
    ]
    for method, real, missing, body in pairs:
        one = api.request(method, real, json=body, headers=stranger.headers)
        other = api.request(method, missing, json=body, headers=stranger.headers)
        assert one.status_code == other.status_code == 404, (method, real, one.text)
        assert without_request(one.json()) == without_request(other.json())
        assert dict(one.headers).keys() == dict(other.headers).keys()


def test_a_shared_lists_tasks_count_toward_the_owners_quota(
    api: Api,
    make_api: Callable[..., Api],
    settings: Settings,
    owner: User,
    editor: User,
    shared: dict[str, Any],
) -> None:
    small = dataclasses.replace(settings, task_quota=2)
    with make_api(small) as tight:
        list_id = shared["list"]["id"]
        body = {"title": "One more", "list_id": list_id}
        made = tight.post(f"/api/{editor.id}/tasks", json=body, headers=editor.headers)
        assert made.status_code == 201, made.text  # the owner's second task
        over = tight.post(f"/api/{editor.id}/tasks", json=body, headers=editor.headers)
        assert over.status_code == 409, over.text
        assert over.json()["type"].endswith("quota-exceeded")
        mine = tight.post(f"/api/{editor.id}/tasks", json={"title": "Own"}, headers=editor.headers)
        assert mine.status_code == 201, mine.text  # the editor's own quota is untouched


def test_the_owners_inbox_is_never_a_members(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, shared: dict[str, Any]
) -> None:
    [inbox] = [
        found
        for found in api.get(f"/api/{owner.id}/lists", headers=owner.headers).json()["lists"]
        if found["is_inbox"]
    ]
    with pytest.raises(psycopg.errors.CheckViolation):
        share(sql, owner, inbox["id"], editor, "editor")
    into = api.post(
        f"/api/{editor.id}/tasks",
        json={"title": "Into your inbox", "list_id": inbox["id"]},
        headers=editor.headers,
    )
    nowhere = api.post(
        f"/api/{editor.id}/tasks",
        json={"title": "Into your inbox", "list_id": str(uuid.uuid4())},
        headers=editor.headers,
    )
    assert into.status_code == nowhere.status_code == 422, into.text
    assert without_request(into.json()) == without_request(nowhere.json())
    # without a list_id, a member's task goes to their own inbox, never the owner's
    own = api.post(f"/api/{editor.id}/tasks", json={"title": "Mine"}, headers=editor.headers)
    assert own.json()["user_id"] == editor.id


def test_a_removed_member_replaying_etags_and_idempotency_keys_gets_404(
    api: Api, sql: psycopg.Connection[Any], editor: User, shared: dict[str, Any]
) -> None:
    task, list_id = shared["task"], shared["list"]["id"]
    url = task_url(editor, task["id"])
    key = {"Idempotency-Key": "replayed-key-1"}
    first = api.patch(url, json={"title": "Oat milk"}, headers={**editor.headers, **key})
    assert first.status_code == 200, first.text
    etag = first.headers["ETag"]
    unshare(sql, list_id, editor)
    replays = [
        api.patch(url, json={"title": "Oat milk"}, headers={**editor.headers, **key}),
        api.patch(url, json={"title": "Soy"}, headers={**editor.headers, "If-Match": etag}),
        api.get(url, headers={**editor.headers, "If-None-Match": etag}),
        api.delete(url, headers={**editor.headers, "If-Match": etag}),
    ]
    assert [r.status_code for r in replays] == [404] * 4, [r.text for r in replays]
    listed = api.get(f"/api/{editor.id}/tasks", headers=editor.headers).json()
    assert task["id"] not in {t["id"] for t in listed["tasks"]}


def test_assignee_is_the_owner_or_a_member_of_the_tasks_list(
    api: Api,
    sql: psycopg.Connection[Any],
    owner: User,
    editor: User,
    viewer: User,
    stranger: User,
    shared: dict[str, Any],
) -> None:
    task = shared["task"]
    url = task_url(editor, task["id"])
    for who in (viewer, owner, editor):
        done = api.patch(url, json={"assignee_id": who.id}, headers=editor.headers)
        assert done.status_code == 200, done.text
        assert done.json()["assignee_id"] == who.id
    refused = api.patch(url, json={"assignee_id": stranger.id}, headers=editor.headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "assignee_id"]
    made = api.post(
        f"/api/{editor.id}/tasks",
        json={"title": "Nope", "list_id": shared["list"]["id"], "assignee_id": stranger.id},
        headers=editor.headers,
    )
    assert made.status_code == 422, made.text
    assert made.json()["errors"][0]["loc"] == ["body", "assignee_id"]
    kept = api.put(url, json={"title": "Replaced"}, headers=editor.headers)
    assert kept.json()["assignee_id"] == editor.id  # a replace without it keeps the assignee
    unshare(sql, shared["list"]["id"], editor)
    assert api.get(task_url(owner, task["id"]), headers=owner.headers).json()["assignee_id"] is None


def test_listings_and_stats_cover_every_list_a_member_belongs_to(
    api: Api, owner: User, editor: User, shared: dict[str, Any]
) -> None:
    list_id = shared["list"]["id"]
    mine = api.post(f"/api/{editor.id}/tasks", json={"title": "Mine"}, headers=editor.headers)
    assigned = api.post(
        f"/api/{editor.id}/tasks",
        json={"title": "For me", "list_id": list_id, "assignee_id": editor.id},
        headers=editor.headers,
    ).json()
    api.post(f"/api/{owner.id}/tasks", json={"title": "Owner's own"}, headers=owner.headers)

    def titles(**params: Any) -> list[str]:
        page = api.get(f"/api/{editor.id}/tasks", params=params, headers=editor.headers).json()
        assert page["total"] == len(page["tasks"]), page
        return sorted(t["title"] for t in page["tasks"])

    assert titles() == ["For me", "Milk", "Mine"]
    assert titles(list_id=list_id) == ["For me", "Milk"]
    assert titles(assignee="me") == ["For me"]
    assert titles(assignee=editor.id) == ["For me"]
    assert titles(assignee="none") == ["Milk", "Mine"]
    assert titles(sort="position", order="asc", list_id=list_id) == ["For me", "Milk"]
    firsts = api.get(
        f"/api/{editor.id}/tasks", params={"limit": 1, "sort": "title"}, headers=editor.headers
    ).json()
    second = api.get(
        f"/api/{editor.id}/tasks",
        params={"limit": 1, "sort": "title", "cursor": firsts["next_cursor"]},
        headers=editor.headers,
    ).json()
    assert [firsts["tasks"][0]["title"], second["tasks"][0]["title"]] == ["Mine", "Milk"]
    stats = api.get(f"/api/{editor.id}/stats", headers=editor.headers).json()
    assert stats["total"] == 3
    narrowed = api.get(
        f"/api/{editor.id}/stats", params={"list_id": list_id}, headers=editor.headers
    ).json()
    assert narrowed["total"] == 2
    assert mine.status_code == 201
    assert assigned["user_id"] == owner.id
    owners = api.get(f"/api/{owner.id}/tasks", headers=owner.headers).json()
    assert sorted(t["title"] for t in owners["tasks"]) == ["For me", "Milk", "Owner's own"]


def test_lists_answer_the_callers_role_and_own_sidebar(
    api: Api, owner: User, editor: User, shared: dict[str, Any]
) -> None:
    list_id = shared["list"]["id"]
    own = api.get(f"/api/{owner.id}/lists/{list_id}", headers=owner.headers).json()
    assert (own["role"], own["shared"], own["member_count"]) == ("owner", True, 2)
    sidebar = api.get(f"/api/{editor.id}/lists", headers=editor.headers).json()["lists"]
    assert [(found["name"], found["role"]) for found in sidebar] == [
        ("Inbox", "owner"),
        ("Groceries", "editor"),
    ]  # a joined list is placed last
    assert sidebar[0]["shared"] is False
    assert sidebar[0]["member_count"] == 0
    moved = api.post(
        f"/api/{editor.id}/lists/{list_id}/move", json={"after_id": None}, headers=editor.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["version"] == own["version"]  # the list itself did not change
    sidebar = api.get(f"/api/{editor.id}/lists", headers=editor.headers).json()["lists"]
    assert [found["name"] for found in sidebar] == ["Groceries", "Inbox"]
    owners = api.get(f"/api/{owner.id}/lists", headers=owner.headers).json()["lists"]
    assert [found["name"] for found in owners] == ["Inbox", "Groceries"]


def test_a_committed_demotion_stops_the_next_write(
    api: Api, sql: psycopg.Connection[Any], editor: User, shared: dict[str, Any], database_url: str
) -> None:
    """The write's own statement reads the role: a write that starts after the demotion
    commits is refused, even while a transaction of the demotion's kind held the row."""
    task, list_id = shared["task"], shared["list"]["id"]
    url = task_url(editor, task["id"])
    locked, release = threading.Event(), threading.Event()

    def demote() -> None:
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "UPDATE list_members SET role = 'viewer' WHERE list_id = %s AND member_id = %s",
                (list_id, editor.id),
            )
            locked.set()
            release.wait(10)
            conn.commit()

    demoter = threading.Thread(target=demote)
    demoter.start()
    assert locked.wait(10)
    during = api.patch(url, json={"title": "While demoting"}, headers=editor.headers)
    assert during.status_code == 200, during.text  # the demotion is not committed yet
    release.set()
    demoter.join(10)
    after = api.patch(url, json={"title": "After"}, headers=editor.headers)
    assert after.status_code == 403, after.text
    stored = sql.execute("SELECT title FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert stored == ("While demoting",)
    set_role(sql, list_id, editor, "editor")
    assert api.patch(url, json={"title": "Again"}, headers=editor.headers).status_code == 200


def test_an_editor_moves_a_task_among_the_owners_lists_they_may_write(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, shared: dict[str, Any]
) -> None:
    task, list_id = shared["task"], shared["list"]["id"]
    url = f"{task_url(editor, task['id'])}/move"
    other = api.post(f"/api/{owner.id}/lists", json={"name": "Hardware"}, headers=owner.headers)
    other_id = other.json()["id"]
    mine = api.post(f"/api/{editor.id}/lists", json={"name": "Mine"}, headers=editor.headers)
    refused = [
        api.post(url, json={"list_id": other_id}, headers=editor.headers),  # not a member
        api.post(url, json={"list_id": mine.json()["id"]}, headers=editor.headers),  # not owner's
        api.post(url, json={"list_id": str(uuid.uuid4())}, headers=editor.headers),  # missing
    ]
    assert [r.status_code for r in refused] == [422] * 3, [r.text for r in refused]
    assert len({str(without_request(r.json())) for r in refused}) == 1  # never leaks which
    share(sql, owner, other_id, editor, "viewer")
    viewing = api.post(url, json={"list_id": other_id}, headers=editor.headers)
    assert viewing.status_code == 422, viewing.text  # a list they may read, not write
    set_role(sql, other_id, editor, "editor")
    moved = api.post(url, json={"list_id": other_id}, headers=editor.headers)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["list_id"], moved.json()["user_id"]) == (other_id, owner.id)
    set_role(sql, other_id, editor, "viewer")
    back = api.post(
        f"{task_url(editor, task['id'])}/move", json={"list_id": list_id}, headers=editor.headers
    )
    assert back.status_code == 403, back.text  # the task's own list is now a viewer's


def test_a_shared_lists_trash_is_its_owners_and_editors(
    api: Api, owner: User, editor: User, viewer: User, shared: dict[str, Any]
) -> None:
    task = shared["task"]
    assert api.delete(task_url(owner, task["id"]), headers=owner.headers).status_code == 204

    def trash_ids(who: User) -> list[str]:
        page = api.get(f"/api/{who.id}/trash", headers=who.headers).json()
        assert page["total"] == len(page["tasks"])
        return [t["id"] for t in page["tasks"]]

    assert trash_ids(owner) == trash_ids(editor) == [task["id"]]
    assert trash_ids(viewer) == []
    restore = f"/api/{viewer.id}/trash/{task['id']}/restore"
    assert api.post(restore, headers=viewer.headers).status_code == 403
    purge = api.delete(f"/api/{editor.id}/trash/{task['id']}", headers=editor.headers)
    assert purge.status_code == 403, purge.text
    assert purge.json()["required_role"] == "owner"
    back = api.post(f"/api/{editor.id}/trash/{task['id']}/restore", headers=editor.headers)
    assert back.status_code == 200, back.text
    assert (back.json()["user_id"], back.json()["list_id"]) == (owner.id, shared["list"]["id"])
    assert trash_ids(owner) == []


def test_an_editor_clears_a_shared_lists_completed_tasks(
    api: Api, owner: User, editor: User, viewer: User, shared: dict[str, Any]
) -> None:
    task, list_id = shared["task"], shared["list"]["id"]
    done = api.patch(
        f"{task_url(owner, task['id'])}/complete",
        json={"is_completed": True},
        headers=owner.headers,
    )
    assert done.status_code == 200
    clear = {"list_id": list_id}
    refused = api.post(
        f"/api/{viewer.id}/tasks/clear-completed", json=clear, headers=viewer.headers
    )
    assert refused.status_code == 403, refused.text
    cleared = api.post(
        f"/api/{editor.id}/tasks/clear-completed", json=clear, headers=editor.headers
    )
    assert cleared.json() == {"count": 1}
    assert api.get(task_url(owner, task["id"]), headers=owner.headers).status_code == 404


def test_an_editors_move_waits_for_the_owners_placement_lock(
    api: Api,
    sql: psycopg.Connection[Any],
    owner: User,
    editor: User,
    shared: dict[str, Any],
    database_url: str,
) -> None:
    """A member's move decides under the placement lock of the tree's owner, whoever asks: an
    owner's move under way (its lock held) and an editor's crossed move cannot both pass the
    cycle check and make a cycle."""
    list_id = shared["list"]["id"]
    parent = api.post(
        f"/api/{owner.id}/tasks",
        json={"title": "Parent", "list_id": list_id},
        headers=owner.headers,
    ).json()
    url = f"{task_url(editor, shared['task']['id'])}/move"

    def waiting() -> bool:
        row = sql.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchone()
        return row is not None and row[0] > 0

    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(3, hashtext(%s))", (owner.id,))

        async def crossed() -> tuple[bool, Any]:
            move = asyncio.ensure_future(
                api.arequest("POST", url, json={"parent_id": parent["id"]}, headers=editor.headers)
            )
            seen = await until(waiting)
            holder.commit()
            return bool(seen), await move

        seen, moved = api.run(crossed())
    assert seen, "the editor's move did not wait for the owner's placement lock"
    assert moved.status_code == 200, moved.text
    assert moved.json()["parent_id"] == parent["id"]
