"""Comments on tasks (SPEC §11) with three accounts: the list's owner, an editor and a viewer
(memberships inserted as list_members rows), and a stranger. Every rule of the section: who
reads, who writes, who edits and deletes which comment, the 404 of a task in no list of the
caller's (byte for byte a missing task's), the body's bounds, the quota, the trash round trip,
a deleted author, and the change feed carrying kind `comment`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import Api, User, until
from tests.test_events import stream


@dataclass
class Shared:
    owner: User
    editor: User
    viewer: User
    stranger: User
    list_id: str
    task: dict[str, Any]


def member(sql: psycopg.Connection[Any], owner: User, list_id: str, who: User, role: str) -> None:
    sql.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role) VALUES (%s, %s, %s, %s)",
        (list_id, owner.id, who.id, role),
    )


@pytest.fixture
def shared(api: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]) -> Shared:
    return make_shared(api, make_user, sql)


def make_shared(api: Api, make_user: Callable[..., User], sql: psycopg.Connection[Any]) -> Shared:
    """An owner's list shared with an editor and a viewer, a task in it, and a stranger."""
    owner, editor = make_user(name="Owner"), make_user(name="Editor")
    viewer, stranger = make_user(name="Viewer"), make_user(name="Stranger")
    made = api.post(f"/api/{owner.id}/lists", json={"name": "Home"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    list_id = made.json()["id"]
    member(sql, owner, list_id, editor, "editor")
    member(sql, owner, list_id, viewer, "viewer")
    task = api.post(
        f"/api/{owner.id}/tasks", json={"title": "Milk", "list_id": list_id}, headers=owner.headers
    )
    assert task.status_code == 201, task.text
    return Shared(owner, editor, viewer, stranger, list_id, task.json())


def comments_path(who: User, task_id: str, comment_id: str | None = None) -> str:
    path = f"/api/{who.id}/tasks/{task_id}/comments"
    return path if comment_id is None else f"{path}/{comment_id}"


def post(api: Api, who: User, task_id: str, body: Any) -> httpx.Response:
    return api.post(comments_path(who, task_id), json={"body": body}, headers=who.headers)


def listed(api: Api, who: User, task_id: str, **params: Any) -> httpx.Response:
    return api.get(comments_path(who, task_id), params=params, headers=who.headers)


def comment(api: Api, who: User, task_id: str, body: str = "hello") -> dict[str, Any]:
    response = post(api, who, task_id, body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def without_ids(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return {k: v for k, v in body.items() if k not in ("instance", "request_id")}


def test_an_editor_comments_and_every_member_reads_it(api: Api, shared: Shared) -> None:
    task_id = shared.task["id"]
    response = post(api, shared.editor, task_id, "  Bought oat milk  \n")
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["author"] == {"id": shared.editor.id, "name": "Editor"}
    assert made["body"] == "Bought oat milk"  # trimmed
    assert made["task_id"] == task_id
    assert made["version"] == 1
    assert response.headers["ETag"] == '"1"'
    by_owner = comment(api, shared.owner, task_id, "thanks")
    for who in (shared.owner, shared.editor, shared.viewer):
        page = listed(api, who, task_id)
        assert page.status_code == 200, page.text
        assert page.json() == {"comments": [made, by_owner], "next_cursor": None}


def test_a_viewer_posting_is_403_naming_the_role(api: Api, shared: Shared) -> None:
    response = post(api, shared.viewer, shared.task["id"], "me too")
    assert response.status_code == 403
    problem = response.json()
    assert problem["type"] == "urn:todo-api:problem:permission-denied"
    assert problem["required_role"] == "editor"
    assert listed(api, shared.owner, shared.task["id"]).json()["comments"] == []


def test_a_non_member_gets_the_404_of_a_missing_task(api: Api, shared: Shared) -> None:
    task_id, stranger = shared.task["id"], shared.stranger
    made = comment(api, shared.owner, task_id)
    missing = str(uuid.uuid4())
    for method, real, absent in [
        ("GET", comments_path(stranger, task_id), comments_path(stranger, missing)),
        ("POST", comments_path(stranger, task_id), comments_path(stranger, missing)),
        (
            "PATCH",
            comments_path(stranger, task_id, made["id"]),
            comments_path(stranger, missing, made["id"]),
        ),
        (
            "DELETE",
            comments_path(stranger, task_id, made["id"]),
            comments_path(stranger, missing, made["id"]),
        ),
    ]:
        kwargs: dict[str, Any] = {"headers": stranger.headers}
        if method in ("POST", "PATCH"):
            kwargs["json"] = {"body": "sneaky"}
        theirs, nobodys = api.request(method, real, **kwargs), api.request(method, absent, **kwargs)
        assert theirs.status_code == nobodys.status_code == 404, (method, theirs.text)
        assert without_ids(theirs) == without_ids(nobodys)
        assert without_ids(theirs)["detail"] == "No such task."
    assert listed(api, shared.owner, task_id).json()["comments"] == [made]


def test_an_editor_editing_anothers_comment_is_403_and_the_author_edits_with_if_match(
    api: Api, shared: Shared
) -> None:
    task_id = shared.task["id"]
    made = comment(api, shared.owner, task_id, "by the owner")
    path = comments_path(shared.editor, task_id, made["id"])
    response = api.patch(path, json={"body": "hijacked"}, headers=shared.editor.headers)
    assert response.status_code == 403
    assert response.json()["type"] == "urn:todo-api:problem:permission-denied"
    own = comment(api, shared.editor, task_id, "first")
    path = comments_path(shared.editor, task_id, own["id"])
    headers = {**shared.editor.headers, "If-Match": '"1"'}
    edited = api.patch(path, json={"body": " second "}, headers=headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["body"] == "second"
    assert edited.json()["version"] == 2
    assert edited.headers["ETag"] == '"2"'
    assert edited.json()["updated_at"] > own["updated_at"]
    stale = api.patch(path, json={"body": "third"}, headers=headers)  # If-Match "1" again
    assert stale.status_code == 412
    assert stale.headers["ETag"] == '"2"'
    # the owner cannot edit someone else's comment either (only delete it)
    path = comments_path(shared.owner, task_id, own["id"])
    refused = api.patch(path, json={"body": "owner edit"}, headers=shared.owner.headers)
    assert refused.status_code == 403
    bodies = [c["body"] for c in listed(api, shared.viewer, task_id).json()["comments"]]
    assert bodies == ["by the owner", "second"]


def test_a_viewer_cannot_edit_or_delete_even_its_own_comment(
    api: Api, shared: Shared, sql: psycopg.Connection[Any]
) -> None:
    """Written while an editor, then demoted: writing comments is an editor's."""
    task_id = shared.task["id"]
    own = comment(api, shared.editor, task_id, "mine")
    sql.execute("UPDATE list_members SET role = 'viewer' WHERE member_id = %s", (shared.editor.id,))
    path = comments_path(shared.editor, task_id, own["id"])
    edit = api.patch(path, json={"body": "x"}, headers=shared.editor.headers)
    assert edit.status_code == 403
    assert edit.json()["required_role"] == "editor"
    assert api.delete(path, headers=shared.editor.headers).status_code == 403
    assert [c["body"] for c in listed(api, shared.owner, task_id).json()["comments"]] == ["mine"]


def test_its_author_or_the_owner_deletes_a_comment_and_no_one_else(
    api: Api, shared: Shared, make_user: Callable[..., User], sql: psycopg.Connection[Any]
) -> None:
    task_id = shared.task["id"]
    second_editor = make_user(name="Second")
    member(sql, shared.owner, shared.list_id, second_editor, "editor")
    by_editor = comment(api, shared.editor, task_id, "one")
    by_second = comment(api, second_editor, task_id, "two")
    path = comments_path(second_editor, task_id, by_editor["id"])
    refused = api.delete(path, headers=second_editor.headers)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:todo-api:problem:permission-denied"
    viewer = api.delete(
        comments_path(shared.viewer, task_id, by_editor["id"]), headers=shared.viewer.headers
    )
    assert viewer.status_code == 403
    own = api.delete(
        comments_path(shared.editor, task_id, by_editor["id"]), headers=shared.editor.headers
    )
    assert own.status_code == 204
    by_owner = api.delete(
        comments_path(shared.owner, task_id, by_second["id"]), headers=shared.owner.headers
    )
    assert by_owner.status_code == 204
    again = api.delete(
        comments_path(shared.owner, task_id, by_second["id"]), headers=shared.owner.headers
    )
    assert again.status_code == 404
    assert again.json()["detail"] == "No such comment."
    assert listed(api, shared.viewer, task_id).json()["comments"] == []


def test_a_removed_member_reads_nothing_more(
    api: Api, shared: Shared, sql: psycopg.Connection[Any]
) -> None:
    task_id = shared.task["id"]
    made = comment(api, shared.editor, task_id, "before leaving")
    sql.execute("DELETE FROM list_members WHERE member_id = %s", (shared.editor.id,))
    assert listed(api, shared.editor, task_id).status_code == 404
    path = comments_path(shared.editor, task_id, made["id"])
    assert api.patch(path, json={"body": "x"}, headers=shared.editor.headers).status_code == 404
    assert api.delete(path, headers=shared.editor.headers).status_code == 404
    assert post(api, shared.editor, task_id, "x").status_code == 404
    # the comment stays, with its author
    assert listed(api, shared.owner, task_id).json()["comments"] == [made]


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ("x", "x"),
        ("\u3000 é \x85", "é"),  # Unicode white space around: trimmed
        ("👨\u200d👩\u200d👧" * 1000, "👨\u200d👩\u200d👧" * 1000),  # 5000 code points
        ("e\u0301" * 2500, "e\u0301" * 2500),  # 5000 code points, 2500 graphemes
        (" " * 100 + "a" * 5000 + "\n" * 100, "a" * 5000),  # 5000 after trimming
        ("ǅ" * 5000, "ǅ" * 5000),  # not changed, nor counted, by case
    ],
)
def test_a_body_of_1_to_5000_code_points_after_trimming_is_kept(
    api: Api, shared: Shared, body: str, stored: str
) -> None:
    made = post(api, shared.editor, shared.task["id"], body)
    assert made.status_code == 201, made.text[:300]
    assert made.json()["body"] == stored
    assert listed(api, shared.viewer, shared.task["id"]).json()["comments"][0]["body"] == stored


@pytest.mark.parametrize(
    "body",
    [
        "",
        " \t\n\u3000\u2028\x85\xa0",  # blank once trimmed
        "a" * 5001,
        "👍🏽" * 2501,  # 5002 code points, 2501 emoji
        "e\u0301" * 2500 + "e",  # 5001 code points
        "a\x00b",
        42,
        None,
    ],
)
def test_a_body_blank_too_long_or_not_text_is_422(api: Api, shared: Shared, body: Any) -> None:
    response = post(api, shared.editor, shared.task["id"], body)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["errors"][0]["loc"][:2] == ["body", "body"]
    assert listed(api, shared.owner, shared.task["id"]).json()["comments"] == []


def test_an_unpaired_surrogate_is_422(api: Api, shared: Shared) -> None:
    response = api.post(
        comments_path(shared.editor, shared.task["id"]),
        content=b'{"body": "\\ud800"}',
        headers={**shared.editor.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][:2] == ["body", "body"]


def test_editing_to_a_blank_body_is_422_and_changes_nothing(api: Api, shared: Shared) -> None:
    made = comment(api, shared.editor, shared.task["id"], "keep")
    path = comments_path(shared.editor, shared.task["id"], made["id"])
    response = api.patch(path, json={"body": "   "}, headers=shared.editor.headers)
    assert response.status_code == 422
    assert listed(api, shared.owner, shared.task["id"]).json()["comments"] == [made]


def test_comments_page_oldest_first_with_a_cursor_bound_to_the_task(
    api: Api, shared: Shared, make_task: Callable[..., dict[str, Any]]
) -> None:
    task_id = shared.task["id"]
    made = [comment(api, shared.editor, task_id, f"c{n}") for n in range(5)]
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = listed(api, shared.viewer, task_id, **params).json()
        seen += page["comments"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
        assert len(page["comments"]) == 2
    assert seen == made
    first = listed(api, shared.viewer, task_id, limit=2).json()["next_cursor"]
    other = make_task(shared.owner, title="other", list_id=shared.list_id)
    wrong_task = listed(api, shared.viewer, other["id"], cursor=first)
    assert wrong_task.status_code == 400
    assert wrong_task.json()["errors"][0]["loc"] == ["query", "cursor"]
    wrong_user = listed(api, shared.editor, task_id, cursor=first)
    assert wrong_user.status_code == 400
    garbled = listed(api, shared.viewer, task_id, cursor=first[:-2] + "xx")
    assert garbled.status_code == 400


def test_a_task_holds_at_most_the_quota_of_comments(
    api: Api, shared: Shared, sql: psycopg.Connection[Any]
) -> None:
    task_id = shared.task["id"]
    quota = api.app.ctx.settings.comment_quota
    sql.execute(
        "INSERT INTO comments (user_id, task_id, author_id, body)"
        " SELECT %s, %s, %s, 'c' || n FROM generate_series(1, %s - 1) AS n",
        (shared.owner.id, task_id, shared.owner.id, quota),
    )
    calls = [
        lambda: api.arequest(
            "POST",
            comments_path(shared.editor, task_id),
            json={"body": "race"},
            headers=shared.editor.headers,
        )
        for _ in range(4)
    ]
    statuses = sorted(r.status_code for r in api.gather(*calls))
    assert statuses == [201, 409, 409, 409]
    row = sql.execute("SELECT count(*) FROM comments WHERE task_id = %s", (task_id,)).fetchone()
    assert row == (quota,)
    over = post(api, shared.owner, task_id, "one more")
    assert over.status_code == 409
    assert over.json()["type"] == "urn:todo-api:problem:quota-exceeded"


def test_comments_go_to_the_trash_with_their_task_and_come_back_with_it(
    api: Api, shared: Shared, make_task: Callable[..., dict[str, Any]], sql: psycopg.Connection[Any]
) -> None:
    owner = shared.owner
    parent = make_task(owner, title="parent", list_id=shared.list_id)
    child = make_task(owner, title="child", parent_id=parent["id"])
    on_parent = comment(api, shared.editor, parent["id"], "on the parent")
    on_child = comment(api, shared.editor, child["id"], "on the child")
    deleted = api.delete(f"/api/{owner.id}/tasks/{parent['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert listed(api, shared.viewer, child["id"]).status_code == 404
    assert post(api, shared.editor, parent["id"], "late").status_code == 404
    path = comments_path(shared.editor, child["id"], on_child["id"])
    assert api.patch(path, json={"body": "x"}, headers=shared.editor.headers).status_code == 404
    restored = api.post(f"/api/{owner.id}/trash/{parent['id']}/restore", headers=owner.headers)
    assert restored.status_code == 200, restored.text
    assert listed(api, shared.viewer, parent["id"]).json()["comments"] == [on_parent]
    assert listed(api, shared.viewer, child["id"]).json()["comments"] == [on_child]
    # purged with it
    api.delete(f"/api/{owner.id}/tasks/{parent['id']}", headers=owner.headers)
    purged = api.delete(f"/api/{owner.id}/trash/{parent['id']}", headers=owner.headers)
    assert purged.status_code == 204
    row = sql.execute("SELECT count(*) FROM comments").fetchone()
    assert row == (0,)


def test_emptying_the_trash_and_clearing_completed_take_comments_along(
    api: Api, shared: Shared, sql: psycopg.Connection[Any]
) -> None:
    owner, task_id = shared.owner, shared.task["id"]
    comment(api, shared.editor, task_id, "soon gone")
    done = api.patch(f"/api/{owner.id}/tasks/{task_id}/complete", headers=owner.headers)
    assert done.status_code == 200
    cleared = api.post(f"/api/{owner.id}/tasks/clear-completed", json={}, headers=owner.headers)
    assert cleared.status_code == 200
    row = sql.execute("SELECT count(*) FROM comments WHERE deleted_at IS NOT NULL").fetchone()
    assert row == (1,)
    assert api.delete(f"/api/{owner.id}/trash", headers=owner.headers).status_code == 204
    assert sql.execute("SELECT count(*) FROM comments").fetchone() == (0,)


def test_a_deleted_authors_comments_stay_with_author_null(
    api: Api, shared: Shared, sql: psycopg.Connection[Any]
) -> None:
    task_id = shared.task["id"]
    made = comment(api, shared.editor, task_id, "I was here")
    since = api.get(f"/api/{shared.owner.id}/changes", headers=shared.owner.headers).json()
    sql.execute("DELETE FROM users WHERE id = %s", (shared.editor.id,))
    comments = listed(api, shared.viewer, task_id).json()["comments"]
    assert comments == [{**made, "author": None}]
    changes = api.get(
        f"/api/{shared.owner.id}/changes",
        params={"since": since["next_since"]},
        headers=shared.owner.headers,
    ).json()["changes"]
    # the list first: its member_count fell with the editor's account (the viewer stays)
    assert [(c["kind"], c["op"]) for c in changes] == [("list", "upsert"), ("comment", "upsert")]
    assert changes[0]["data"]["member_count"] == 1
    assert changes[1]["data"] == {**made, "author": None}


def test_the_owners_feed_carries_comments_in_commit_order(
    api: Api, shared: Shared, sql: psycopg.Connection[Any]
) -> None:
    owner, task_id = shared.owner, shared.task["id"]
    feed = f"/api/{owner.id}/changes"

    def after(since: str) -> dict[str, Any]:
        response = api.get(feed, params={"since": since}, headers=owner.headers)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    full = api.get(feed, headers=owner.headers).json()
    made = comment(api, shared.editor, task_id, "one")
    gone = comment(api, shared.editor, task_id, "two")
    path = comments_path(shared.editor, task_id, made["id"])
    edited = api.patch(path, json={"body": "one!"}, headers=shared.editor.headers).json()
    api.delete(comments_path(shared.editor, task_id, gone["id"]), headers=shared.editor.headers)
    page = after(full["next_since"])
    assert [(c["kind"], c["op"], c["id"], c["data"]) for c in page["changes"]] == [
        ("comment", "upsert", made["id"], edited),
        ("comment", "delete", gone["id"], None),
    ]
    # the trash: a delete of each comment with its task; a restore, upserts
    api.delete(f"/api/{owner.id}/tasks/{task_id}", headers=owner.headers)
    trashed = after(page["next_since"])
    assert {(c["kind"], c["op"], c["id"]) for c in trashed["changes"]} == {
        ("task", "delete", task_id),
        ("comment", "delete", made["id"]),
    }
    api.post(f"/api/{owner.id}/trash/{task_id}/restore", headers=owner.headers)
    back = after(trashed["next_since"])
    assert [(c["kind"], c["op"], c["id"]) for c in back["changes"]] == [
        ("task", "upsert", task_id),
        ("comment", "upsert", made["id"]),
    ]
    assert back["changes"][1]["data"] == edited
    # a full sync: live comments as upserts, nothing of the deleted one
    changes = api.get(feed, headers=owner.headers).json()["changes"]
    assert [c["id"] for c in changes if c["kind"] == "comment"] == [made["id"]]


def while_task_deleted(
    api: Api,
    database_url: str,
    sql: psycopg.Connection[Any],
    task_id: str,
    method: str,
    path: str,
    who: User,
    **kwargs: Any,
) -> httpx.Response:
    """The answer to a request that reaches the task while a deletion holds it uncommitted; the
    deletion commits once the request waits for a lock it holds."""
    with psycopg.connect(database_url) as deleting:
        deleting.execute("DELETE FROM tasks WHERE id = %s", (task_id,))

        def waiting() -> bool:
            row = sql.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()
            return row is not None and row[0] > 0

        async def commit_once_waited() -> None:
            await until(waiting)
            await asyncio.to_thread(deleting.commit)

        async def race() -> httpx.Response:
            send = api.arequest(method, path, headers=who.headers, **kwargs)
            answer, _ = await asyncio.gather(send, commit_once_waited())
            return answer

        response: httpx.Response = api.run(race())
        return response


def test_a_comment_posted_while_its_task_is_deleted_is_404_and_stores_nothing(
    api: Api, shared: Shared, database_url: str, sql: psycopg.Connection[Any]
) -> None:
    """Nothing may live on a task in the trash."""
    task_id = shared.task["id"]
    path = comments_path(shared.editor, task_id)
    response = while_task_deleted(
        api, database_url, sql, task_id, "POST", path, shared.editor, json={"body": "too late"}
    )
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "No such task."
    assert sql.execute("SELECT count(*) FROM comments").fetchone() == (0,)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_editing_or_deleting_a_comment_as_its_task_is_deleted_is_404(
    api: Api, shared: Shared, database_url: str, sql: psycopg.Connection[Any], method: str
) -> None:
    """Not 412 (with If-Match: the comment's own version) nor 403: the comment went to the trash
    with its task, and comes back from it unchanged."""
    task_id = shared.task["id"]
    made = comment(api, shared.editor, task_id, "as it was")
    path = comments_path(shared.editor, task_id, made["id"])
    kwargs: dict[str, Any] = {"json": {"body": "edited"}} if method == "PATCH" else {}
    response = while_task_deleted(
        api, database_url, sql, task_id, method, path, shared.editor, **kwargs
    )
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "No such comment."
    owner = shared.owner
    restored = api.post(f"/api/{owner.id}/trash/{task_id}/restore", headers=owner.headers)
    assert restored.status_code == 200
    assert listed(api, shared.viewer, task_id).json()["comments"] == [made]


def test_a_comment_reaches_the_owners_open_stream(api: Api, shared: Shared) -> None:
    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, shared.owner) as listener,
        ):
            path = comments_path(shared.editor, shared.task["id"])
            response = await client.post(path, json={"body": "live"}, headers=shared.editor.headers)
            assert response.status_code == 201, response.text
            event = await listener.next()  # validated against the contract's Event
            assert event["event"] == "change"
            assert event["data"]["kind"] == "comment"
            assert event["data"]["data"] == response.json()

    api.run(scenario())
