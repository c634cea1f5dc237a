"""What a hostile review of sharing (issue 26) found a member could do that SPEC §11 forbids:
each case as the member would try it, with the owner's, an editor's and a viewer's accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.sharing import make_list, share
from tests.support import Api, User


def create(api: Api, who: User, **fields: Any) -> dict[str, Any]:
    made = api.post(f"/api/{who.id}/tasks", json=fields, headers=who.headers)
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def read(api: Api, who: User, task_id: str) -> dict[str, Any]:
    got = api.get(f"/api/{who.id}/tasks/{task_id}", headers=who.headers)
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def test_an_editor_cannot_move_a_task_under_a_parent_in_a_list_they_only_view(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User
) -> None:
    writable, viewed = make_list(api, owner, "Writable"), make_list(api, owner, "Viewed")
    share(sql, owner, writable["id"], editor, "editor")
    share(sql, owner, viewed["id"], editor, "viewer")
    parent = create(api, owner, title="Parent", list_id=viewed["id"])
    task = create(api, editor, title="Mine to move", list_id=writable["id"])
    url = f"/api/{editor.id}/tasks/{task['id']}/move"
    moved = api.post(url, json={"parent_id": parent["id"]}, headers=editor.headers)
    assert moved.status_code == 422, moved.text  # a list they may read, not write
    assert moved.json()["errors"][0]["loc"] == ["body", "parent_id"]
    batch = api.post(
        f"/api/{editor.id}/tasks/batch",
        json={
            "operations": [
                {"op": "move", "task_id": task["id"], "body": {"parent_id": parent["id"]}}
            ]
        },
        headers=editor.headers,
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["results"][0]["status"] == 422, batch.text
    assert read(api, owner, task["id"])["list_id"] == writable["id"]
    subtask = api.post(
        f"/api/{editor.id}/tasks",
        json={"title": "Under it", "parent_id": parent["id"]},
        headers=editor.headers,
    )
    assert subtask.status_code == 403, subtask.text  # (a new subtask: the parent's role, 403)


def test_a_task_moved_to_a_list_its_assignee_is_not_in_comes_unassigned(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, viewer: User
) -> None:
    shared, private = make_list(api, owner, "Shared"), make_list(api, owner, "Private")
    share(sql, owner, shared["id"], editor, "editor")
    share(sql, owner, shared["id"], viewer, "viewer")
    parent = create(api, editor, title="Parent", list_id=shared["id"], assignee_id=viewer.id)
    child = create(api, owner, title="Child", parent_id=parent["id"], assignee_id=editor.id)
    mine = create(api, owner, title="Mine", list_id=shared["id"], assignee_id=owner.id)
    for task in (parent, mine):
        moved = api.post(
            f"/api/{owner.id}/tasks/{task['id']}/move",
            json={"list_id": private["id"]},
            headers=owner.headers,
        )
        assert moved.status_code == 200, moved.text
    assert read(api, owner, parent["id"])["assignee_id"] is None
    assert read(api, owner, child["id"])["assignee_id"] is None  # moved with its parent
    assert read(api, owner, mine["id"])["assignee_id"] == owner.id  # the owner is of every list
    listed = api.get(f"/api/{owner.id}/tasks?assignee={viewer.id}", headers=owner.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["tasks"] == []


def test_a_task_restored_after_its_assignee_left_comes_back_unassigned(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, viewer: User
) -> None:
    shared = make_list(api, owner, "Shared")
    share(sql, owner, shared["id"], editor, "editor")
    share(sql, owner, shared["id"], viewer, "viewer")
    task = create(api, editor, title="Held", list_id=shared["id"], assignee_id=viewer.id)
    deleted = api.delete(f"/api/{editor.id}/tasks/{task['id']}", headers=editor.headers)
    assert deleted.status_code == 204, deleted.text
    removed = api.delete(
        f"/api/{owner.id}/lists/{shared['id']}/members/{viewer.id}", headers=owner.headers
    )
    assert removed.status_code == 204, removed.text
    restored = api.post(f"/api/{editor.id}/trash/{task['id']}/restore", headers=editor.headers)
    assert restored.status_code == 200, restored.text
    assert restored.json()["assignee_id"] is None
    assert read(api, owner, task["id"])["assignee_id"] is None


def test_a_members_reminders_cover_the_lists_shared_with_them(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, viewer: User
) -> None:
    shared, private = make_list(api, owner, "Shared"), make_list(api, owner, "Private")
    share(sql, owner, shared["id"], editor, "editor")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    at = [(start + timedelta(hours=h)).isoformat().replace("+00:00", "Z") for h in range(4)]
    create(api, owner, title="Shared 1", list_id=shared["id"], reminders=[{"at": at[0]}])
    create(api, editor, title="Mine", reminders=[{"at": at[1]}])
    create(api, owner, title="Private", list_id=private["id"], reminders=[{"at": at[2]}])
    create(
        api,
        owner,
        title="Shared 2",
        list_id=shared["id"],
        reminders=[{"at": at[3]}],
        assignee_id=owner.id,
    )
    window = {"from": at[0], "to": (start + timedelta(days=1)).isoformat().replace("+00:00", "Z")}

    def titles(who: User) -> list[str]:
        found: list[str] = []
        query: dict[str, Any] = {**window, "limit": 1}
        while True:
            page = api.get(f"/api/{who.id}/reminders", params=query, headers=who.headers)
            assert page.status_code == 200, page.text
            found += [r["title"] for r in page.json()["reminders"]]
            if page.json()["next_cursor"] is None:
                return found
            query["cursor"] = page.json()["next_cursor"]

    assert titles(editor) == ["Shared 1", "Mine", "Shared 2"]  # a page at a time, in order
    assert titles(owner) == ["Shared 1", "Private", "Shared 2"]
    assert titles(viewer) == []  # no member
    share(sql, owner, shared["id"], viewer, "viewer")
    assert titles(viewer) == ["Shared 1", "Shared 2"]
    removed = api.delete(
        f"/api/{owner.id}/lists/{shared['id']}/members/{viewer.id}", headers=owner.headers
    )
    assert removed.status_code == 204, removed.text
    assert titles(viewer) == []


def feed_tip(api: Api, who: User) -> str:
    """The since of `who`'s feed as it stands (after a full sync)."""
    page = api.get(f"/api/{who.id}/changes", headers=who.headers).json()
    while page["has_more"]:
        page = api.get(
            f"/api/{who.id}/changes", params={"since": page["next_since"]}, headers=who.headers
        ).json()
    tip: str = page["next_since"]
    return tip


def changes_since(api: Api, who: User, since: str) -> list[dict[str, Any]]:
    got = api.get(f"/api/{who.id}/changes", params={"since": since}, headers=who.headers)
    assert got.status_code == 200, got.text
    changes: list[dict[str, Any]] = got.json()["changes"]
    return changes


def test_a_members_sidebar_move_is_heard_in_their_own_feed_alone(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, viewer: User
) -> None:
    shared = make_list(api, owner, "Shared")
    share(sql, owner, shared["id"], editor, "editor")
    share(sql, owner, shared["id"], viewer, "viewer")
    tips = {who.id: feed_tip(api, who) for who in (owner, editor, viewer)}
    moved = api.post(
        f"/api/{viewer.id}/lists/{shared['id']}/move",
        json={"after_id": None},
        headers=viewer.headers,
    )
    assert moved.status_code == 200, moved.text
    assert changes_since(api, owner, tips[owner.id]) == []
    assert changes_since(api, editor, tips[editor.id]) == []
    heard = changes_since(api, viewer, tips[viewer.id])
    assert [(c["kind"], c["op"], c["id"]) for c in heard] == [("list", "upsert", shared["id"])]
    assert heard[0]["data"] == moved.json()  # their own position and role
    sidebar = api.get(f"/api/{viewer.id}/lists", headers=viewer.headers).json()["lists"]
    assert sidebar[0]["id"] == shared["id"]
    demoted = api.patch(
        f"/api/{owner.id}/lists/{shared['id']}/members/{editor.id}",
        json={"role": "viewer"},
        headers=owner.headers,
    )
    assert demoted.status_code == 200, demoted.text  # a role change is still everyone's
    assert [c["id"] for c in changes_since(api, viewer, tips[viewer.id])] == [shared["id"]]
    assert [c["data"]["role"] for c in changes_since(api, editor, tips[editor.id])] == ["viewer"]


def test_a_membership_change_is_a_new_version_of_the_list_for_conditional_reads(
    api: Api, sql: psycopg.Connection[Any], owner: User, editor: User, viewer: User
) -> None:
    shared = make_list(api, owner, "Shared")
    share(sql, owner, shared["id"], editor, "editor")
    url = f"/api/{{}}/lists/{shared['id']}"
    seen = api.get(url.format(editor.id), headers=editor.headers)
    owners = api.get(url.format(owner.id), headers=owner.headers)
    demoted = api.patch(
        f"{url.format(owner.id)}/members/{editor.id}",
        json={"role": "viewer"},
        headers=owner.headers,
    )
    assert demoted.status_code == 200, demoted.text
    again = api.get(
        url.format(editor.id), headers={**editor.headers, "If-None-Match": seen.headers["ETag"]}
    )
    assert again.status_code == 200, again.text  # not 304: the cached role is stale
    assert again.json()["role"] == "viewer"
    assert again.headers["ETag"] != seen.headers["ETag"]
    share(sql, owner, shared["id"], viewer, "viewer")
    counted = api.get(
        url.format(owner.id), headers={**owner.headers, "If-None-Match": owners.headers["ETag"]}
    )
    assert counted.status_code == 200, counted.text
    assert counted.json()["member_count"] == 2
    stale = api.patch(
        url.format(owner.id),
        json={"name": "Renamed"},
        headers={**owner.headers, "If-Match": owners.headers["ETag"]},
    )
    assert stale.status_code == 412, stale.text  # edited from a list that no longer is
    renamed = api.patch(
        url.format(owner.id),
        json={"name": "Renamed"},
        headers={**owner.headers, "If-Match": counted.headers["ETag"]},
    )
    assert renamed.status_code == 200, renamed.text
