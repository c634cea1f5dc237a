"""The trash (SPEC §7), with a second user present in every test: delete moves a task and its
descendants there, 404 everywhere in §2 after; the trash page; restore; purge one; empty;
clear-completed; deleting a list trashes its tasks; the retention purge."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg

from server.config import Settings
from server.db.queries import load_queries
from server.system import purger
from tests.support import Api, User, eventually

Task = dict[str, Any]


def make_task(api: Api, owner: User, title: str, **fields: Any) -> Task:
    response = api.post(
        f"/api/{owner.id}/tasks", json={"title": title, **fields}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    made: Task = response.json()
    return made


def trash_of(api: Api, owner: User, **params: Any) -> dict[str, Any]:
    response = api.get(f"/api/{owner.id}/trash", params=params, headers=owner.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def listing(api: Api, owner: User) -> list[str]:
    response = api.get(f"/api/{owner.id}/tasks", params={"limit": 100}, headers=owner.headers)
    return sorted(t["id"] for t in response.json()["tasks"])


def test_delete_moves_the_task_and_descendants_to_the_trash(
    api: Api, user: User, other_user: User
) -> None:
    parent = make_task(api, user, "Parent")
    child = make_task(api, user, "Child", parent_id=parent["id"])
    grandchild = make_task(api, user, "Grandchild", parent_id=child["id"])
    theirs = make_task(api, other_user, "Theirs")
    assert (
        api.delete(f"/api/{user.id}/tasks/{parent['id']}", headers=user.headers).status_code == 204
    )
    for task in (parent, child, grandchild):
        path = f"/api/{user.id}/tasks/{task['id']}"
        assert api.get(path, headers=user.headers).status_code == 404
        assert api.patch(path, json={"title": "x"}, headers=user.headers).status_code == 404
        assert api.delete(path, headers=user.headers).status_code == 404
    assert listing(api, user) == []
    stats = api.get(f"/api/{user.id}/stats", headers=user.headers).json()
    assert stats["total"] == 0
    page = trash_of(api, user)
    assert page["total"] == 3
    assert sorted(t["id"] for t in page["tasks"]) == sorted(
        t["id"] for t in (parent, child, grandchild)
    )
    assert all(t["deleted_at"] is not None for t in page["tasks"])
    # the other user's task and trash are untouched, and ours is invisible to them
    assert listing(api, other_user) == [theirs["id"]]
    assert trash_of(api, other_user)["total"] == 0
    restore = f"/api/{other_user.id}/trash/{parent['id']}/restore"
    assert api.post(restore, headers=other_user.headers).status_code == 404
    assert (
        api.delete(
            f"/api/{other_user.id}/trash/{parent['id']}", headers=other_user.headers
        ).status_code
        == 404
    )
    assert api.get(f"/api/{other_user.id}/trash", headers=user.headers).status_code == 403


def test_restore_brings_back_the_descendants_deleted_with_it(
    api: Api, user: User, other_user: User
) -> None:
    parent = make_task(api, user, "Parent")
    early = make_task(api, user, "Deleted earlier", parent_id=parent["id"])
    child = make_task(api, user, "Child", parent_id=parent["id"])
    api.delete(f"/api/{user.id}/tasks/{early['id']}", headers=user.headers)
    api.delete(f"/api/{user.id}/tasks/{parent['id']}", headers=user.headers)
    response = api.post(f"/api/{user.id}/trash/{parent['id']}/restore", headers=user.headers)
    assert response.status_code == 200, response.text
    restored = response.json()
    assert restored["deleted_at"] is None
    assert restored["version"] == parent["version"] + 1
    assert response.headers["ETag"] == f'"{restored["version"]}"'
    assert listing(api, user) == sorted([parent["id"], child["id"]])
    again = api.get(f"/api/{user.id}/tasks/{child['id']}", headers=user.headers).json()
    assert again["parent_id"] == parent["id"]
    assert [t["id"] for t in trash_of(api, user)["tasks"]] == [early["id"]]
    # the earlier deletion's parent is live again: it goes back under it
    back = api.post(f"/api/{user.id}/trash/{early['id']}/restore", headers=user.headers).json()
    assert back["parent_id"] == parent["id"]
    assert (
        api.post(f"/api/{user.id}/trash/{early['id']}/restore", headers=user.headers).status_code
        == 404
    )


def test_a_restored_task_keeps_its_all_day_due_recurrence_and_reminders(
    api: Api, user: User, other_user: User
) -> None:
    fields = {
        "due_on": "2030-03-04",
        "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO", "basis": "due"},
        "reminders": [{"before_due": "PT30M"}],
    }
    task = make_task(api, user, "Weekly review", **fields)
    api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    trashed = trash_of(api, user)["tasks"][0]
    assert {k: trashed[k] for k in fields} == {k: task[k] for k in fields}
    back = api.post(f"/api/{user.id}/trash/{task['id']}/restore", headers=user.headers).json()
    assert {k: back[k] for k in fields} == {k: task[k] for k in fields}
    assert back["due_date"] is None
    window = {"from": "2030-03-04T00:00:00Z", "to": "2030-03-06T00:00:00Z"}
    reminders = api.get(f"/api/{user.id}/reminders", params=window, headers=user.headers).json()[
        "reminders"
    ]
    assert [r["task_id"] for r in reminders] == [task["id"]]


def test_restore_falls_back_to_top_level_and_the_inbox(
    api: Api, user: User, other_user: User
) -> None:
    made = api.post(f"/api/{user.id}/lists", json={"name": "Work"}, headers=user.headers).json()
    parent = make_task(api, user, "Parent", list_id=made["id"])
    child = make_task(api, user, "Child", parent_id=parent["id"])
    api.delete(f"/api/{user.id}/tasks/{child['id']}", headers=user.headers)
    assert api.delete(f"/api/{user.id}/lists/{made['id']}", headers=user.headers).status_code == 204
    assert trash_of(api, user)["total"] == 2  # the list's task went to the trash too
    inbox = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"][0]
    back = api.post(f"/api/{user.id}/trash/{child['id']}/restore", headers=user.headers).json()
    assert (back["parent_id"], back["list_id"]) == (None, inbox["id"])
    assert trash_of(api, other_user)["total"] == 0


def test_purge_one_and_empty(api: Api, user: User, other_user: User) -> None:
    tasks = [make_task(api, user, f"T{i}") for i in range(3)]
    theirs = make_task(api, other_user, "Theirs")
    for task in tasks:
        api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    api.delete(f"/api/{other_user.id}/tasks/{theirs['id']}", headers=other_user.headers)
    purge = f"/api/{user.id}/trash/{tasks[0]['id']}"
    assert api.delete(purge, headers=user.headers).status_code == 204
    assert api.delete(purge, headers=user.headers).status_code == 404
    assert api.post(f"{purge}/restore", headers=user.headers).status_code == 404
    assert trash_of(api, user)["total"] == 2
    assert api.delete(f"/api/{user.id}/trash", headers=user.headers).status_code == 204
    assert trash_of(api, user)["total"] == 0
    assert trash_of(api, other_user)["total"] == 1


def test_trash_page_newest_first_with_offset_and_cursor(
    api: Api, user: User, other_user: User
) -> None:
    tasks = [make_task(api, user, f"T{i}") for i in range(5)]
    make_task(api, other_user, "Theirs")
    for task in tasks:
        api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    newest_first = [t["id"] for t in reversed(tasks)]
    first = trash_of(api, user, limit=2)
    assert [t["id"] for t in first["tasks"]] == newest_first[:2]
    assert first["total"] == 5
    assert first["offset"] == 0
    second = trash_of(api, user, limit=2, cursor=first["next_cursor"])
    assert [t["id"] for t in second["tasks"]] == newest_first[2:4]
    assert second["offset"] is None
    third = trash_of(api, user, limit=2, cursor=second["next_cursor"])
    assert [t["id"] for t in third["tasks"]] == newest_first[4:]
    assert second["total"] == third["total"] == 5  # the whole trash's, on every page (was 3, 1)
    assert [t["id"] for t in trash_of(api, user, limit=2, offset=4)["tasks"]] == newest_first[4:]
    foreign = api.get(
        f"/api/{other_user.id}/trash",
        params={"cursor": first["next_cursor"]},
        headers=other_user.headers,
    )
    assert foreign.status_code == 400


def test_clear_completed_counts_descendants(api: Api, user: User, other_user: User) -> None:
    done = make_task(api, user, "Done", is_completed=True)
    make_task(api, user, "Open child of done", parent_id=done["id"])
    kept = make_task(api, user, "Open")
    theirs = make_task(api, other_user, "Theirs done", is_completed=True)
    response = api.post(f"/api/{user.id}/tasks/clear-completed", json={}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 2}
    assert listing(api, user) == [kept["id"]]
    assert listing(api, other_user) == [theirs["id"]]
    made = api.post(f"/api/{user.id}/lists", json={"name": "Work"}, headers=user.headers).json()
    in_list = make_task(api, user, "Done in Work", list_id=made["id"], is_completed=True)
    in_inbox = make_task(api, user, "Done in inbox", is_completed=True)
    response = api.post(
        f"/api/{user.id}/tasks/clear-completed", json={"list_id": made["id"]}, headers=user.headers
    )
    assert response.json() == {"count": 1}
    assert listing(api, user) == sorted([kept["id"], in_inbox["id"]])
    assert in_list["id"] in [t["id"] for t in trash_of(api, user)["tasks"]]


def test_trashed_tasks_count_toward_the_quota(
    make_api: Any, settings: Settings, user: User
) -> None:
    import dataclasses

    with make_api(dataclasses.replace(settings, task_quota=2)) as api:
        first = make_task(api, user, "One")
        make_task(api, user, "Two")
        api.delete(f"/api/{user.id}/tasks/{first['id']}", headers=user.headers)
        response = api.post(f"/api/{user.id}/tasks", json={"title": "Three"}, headers=user.headers)
        assert response.status_code == 409


def test_retention_purges_old_trash_only(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    old, recent = make_task(api, user, "Old"), make_task(api, other_user, "Recent")
    api.delete(f"/api/{user.id}/tasks/{old['id']}", headers=user.headers)
    api.delete(f"/api/{other_user.id}/tasks/{recent['id']}", headers=other_user.headers)
    sql.execute(
        "UPDATE trash SET deleted_at = now() - interval '31 days' WHERE id = %s", (old["id"],)
    )
    counts = api.run(purger.purge(api.app.ctx.db, load_queries(), settings))
    assert counts["purge_trash"] == 1
    assert trash_of(api, user)["total"] == 0
    assert trash_of(api, other_user)["total"] == 1


def test_clear_completed_of_a_list_not_the_caller_s_is_422_and_moves_nothing(
    api: Api, user: User, other_user: User
) -> None:
    """A list_id naming no list of the caller's (another account's, deleted, never made) is the
    documented 422 at body.list_id, not a 200 that looks cleared; nobody's task moves."""
    theirs = api.post(
        f"/api/{other_user.id}/lists", json={"name": "Theirs"}, headers=other_user.headers
    ).json()
    their_done = make_task(api, other_user, "Their done", list_id=theirs["id"], is_completed=True)
    mine_done = make_task(api, user, "My done", is_completed=True)
    gone = api.post(f"/api/{user.id}/lists", json={"name": "Gone"}, headers=user.headers).json()
    assert api.delete(f"/api/{user.id}/lists/{gone['id']}", headers=user.headers).status_code == 204
    for list_id in (theirs["id"], gone["id"], str(uuid.uuid4())):
        response = api.post(
            f"/api/{user.id}/tasks/clear-completed", json={"list_id": list_id}, headers=user.headers
        )
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "list_id"]]
    assert mine_done["id"] in listing(api, user)
    assert their_done["id"] in listing(api, other_user)


def test_clear_completed_of_a_list_deleted_while_it_waits_is_422(
    api: Api, user: User, sql: psycopg.Connection[Any], database_url: str
) -> None:
    """A list's deletion holds the list's row, then its tasks'; a clear of that list waits for
    it and, once the deletion commits, finds no list (422), never a list whose tasks are gone
    (200, none cleared: the answer that looks cleared)."""
    made = api.post(f"/api/{user.id}/lists", json={"name": "Going"}, headers=user.headers).json()
    make_task(api, user, "Done", list_id=made["id"], is_completed=True)
    deleting = psycopg.connect(database_url)
    deleting.execute("DELETE FROM lists WHERE id = %s", (made["id"],))  # not committed yet
    answered: list[Any] = []

    def clear() -> None:
        body = {"list_id": made["id"]}
        path = f"/api/{user.id}/tasks/clear-completed"
        answered.append(api.post(path, json=body, headers=user.headers))

    clearing = threading.Thread(target=clear)
    clearing.start()
    try:
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
        assert eventually(lambda: sql.execute(waiting).fetchone()[0] > 0)  # type: ignore[index]
    finally:
        deleting.commit()
        deleting.close()
        clearing.join(30)
    assert answered[0].status_code == 422, answered[0].text
    assert [e["loc"] for e in answered[0].json()["errors"]] == [["body", "list_id"]]
