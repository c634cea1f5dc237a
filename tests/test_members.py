"""A shared list's members (SPEC §11), with three accounts: the owner, a member, and someone
who belongs to nothing. Seeing them (every member), changing a role and removing (the owner),
leaving (a member, never the owner), and the 50-member limit, strict under concurrent joins."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import psycopg

from server.config import Settings
from tests.sharing import accept, invite, join, make_list, verify
from tests.support import Api, User


def members_url(owner: User, list_id: str, member_id: str | None = None) -> str:
    tail = f"/{member_id}" if member_id else ""
    return f"/api/{owner.id}/lists/{list_id}/members{tail}"


def test_every_member_sees_the_owner_first_then_the_members(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, editor, viewer = make_user(name="Ada"), make_user(name="Grace"), make_user(name="Kay")
    shared = make_list(api, owner)
    join(api, sql, owner, editor, shared["id"], "editor")
    join(api, sql, owner, viewer, shared["id"], "viewer")
    for who in (owner, editor, viewer):
        seen = api.get(members_url(who, shared["id"]), headers=who.headers)
        assert seen.status_code == 200, seen.text
        people = [(m["user"]["id"], m["user"]["name"], m["role"]) for m in seen.json()["members"]]
        assert people == [
            (owner.id, "Ada", "owner"),
            (editor.id, "Grace", "editor"),
            (viewer.id, "Kay", "viewer"),
        ]
    assert seen.json()["members"][1]["user"]["email"] == editor.email


def test_a_list_one_does_not_belong_to_is_404_as_a_missing_one(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, member, stranger = make_user(), make_user(), make_user()
    shared = make_list(api, owner)
    join(api, sql, owner, member, shared["id"], "editor")
    theirs = api.get(members_url(stranger, shared["id"]), headers=stranger.headers)
    missing = api.get(members_url(stranger, owner.id), headers=stranger.headers)  # no such list
    assert theirs.status_code == missing.status_code == 404
    same = ("type", "title", "status", "detail")
    assert {k: theirs.json()[k] for k in same} == {k: missing.json()[k] for k in same}
    for method, path in (
        ("PATCH", members_url(stranger, shared["id"], member.id)),
        ("DELETE", members_url(stranger, shared["id"], member.id)),
    ):
        body = {"role": "viewer"} if method == "PATCH" else None
        answer = api.request(method, path, json=body, headers=stranger.headers)
        assert (answer.status_code, answer.json()["detail"]) == (404, "No such list.")


def test_only_the_owner_changes_roles_and_a_viewer_is_403_naming_the_role(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, editor, viewer = make_user(), make_user(), make_user()
    shared = make_list(api, owner)
    join(api, sql, owner, editor, shared["id"], "editor")
    join(api, sql, owner, viewer, shared["id"], "viewer")
    for who in (editor, viewer):
        refused = api.patch(
            members_url(who, shared["id"], viewer.id), json={"role": "editor"}, headers=who.headers
        )
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("permission-denied")
        assert "owner" in refused.json()["detail"]
    demoted = api.patch(
        members_url(owner, shared["id"], editor.id), json={"role": "viewer"}, headers=owner.headers
    )
    assert demoted.status_code == 200, demoted.text
    assert (demoted.json()["user"]["id"], demoted.json()["role"]) == (editor.id, "viewer")
    roles = sql.execute(
        "SELECT member_id::text, role FROM list_members WHERE list_id = %s", (shared["id"],)
    ).fetchall()
    assert dict(roles) == {editor.id: "viewer", viewer.id: "viewer"}


def test_the_owner_is_no_member_to_change_or_remove_and_cannot_leave(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, member, stranger = make_user(), make_user(), make_user()
    shared = make_list(api, owner)
    join(api, sql, owner, member, shared["id"], "editor")
    leave = api.delete(members_url(owner, shared["id"], owner.id), headers=owner.headers)
    assert (leave.status_code, leave.json()["type"]) == (409, "urn:todo-api:problem:owner-kept")
    change = api.patch(
        members_url(owner, shared["id"], owner.id), json={"role": "viewer"}, headers=owner.headers
    )
    assert change.status_code == 409
    unknown = api.delete(members_url(owner, shared["id"], stranger.id), headers=owner.headers)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "No such member of this list.")


def test_a_member_leaves_but_cannot_remove_another(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, editor, viewer = make_user(), make_user(), make_user()
    shared = make_list(api, owner)
    join(api, sql, owner, editor, shared["id"], "editor")
    join(api, sql, owner, viewer, shared["id"], "viewer")
    other = api.delete(members_url(editor, shared["id"], viewer.id), headers=editor.headers)
    assert other.status_code == 403
    assert "yours is editor" in other.json()["detail"]
    left = api.delete(members_url(viewer, shared["id"], viewer.id), headers=viewer.headers)
    assert left.status_code == 204
    again = api.get(members_url(viewer, shared["id"]), headers=viewer.headers)
    assert again.status_code == 404  # no longer theirs to see
    gone = api.delete(members_url(viewer, shared["id"], viewer.id), headers=viewer.headers)
    assert gone.status_code == 404
    people = api.get(members_url(owner, shared["id"]), headers=owner.headers).json()["members"]
    assert [m["user"]["id"] for m in people] == [owner.id, editor.id]


def test_the_owner_removes_a_member_and_their_assignments_in_that_list_are_cleared(
    api: Api,
    sql: psycopg.Connection[Any],
    make_user: Callable[..., User],
    make_task: Callable[..., dict[str, Any]],
) -> None:
    owner, member, other_member = make_user(), make_user(), make_user()
    shared, elsewhere = make_list(api, owner), make_list(api, owner, "Work")
    join(api, sql, owner, member, shared["id"], "editor")
    join(api, sql, owner, member, elsewhere["id"], "editor")
    join(api, sql, owner, other_member, shared["id"], "editor")
    held = make_task(owner, list_id=shared["id"])
    kept = make_task(owner, list_id=elsewhere["id"])
    others = make_task(owner, list_id=shared["id"])
    for task, assignee in ((held, member), (kept, member), (others, other_member)):
        sql.execute("UPDATE tasks SET assignee_id = %s WHERE id = %s", (assignee.id, task["id"]))
    removed = api.delete(members_url(owner, shared["id"], member.id), headers=owner.headers)
    assert removed.status_code == 204
    assignees = dict(
        sql.execute(
            "SELECT id::text, assignee_id::text FROM tasks WHERE id = ANY(%s)",
            ([held["id"], kept["id"], others["id"]],),
        ).fetchall()
    )
    assert assignees == {held["id"]: None, kept["id"]: member.id, others["id"]: other_member.id}
    assert api.get(members_url(member, shared["id"]), headers=member.headers).status_code == 404
    assert api.get(members_url(member, elsewhere["id"]), headers=member.headers).status_code == 200


def test_concurrent_joins_never_pass_the_member_limit(
    make_api: Callable[..., Api],
    settings: Settings,
    sql: psycopg.Connection[Any],
    make_user: Callable[..., User],
) -> None:
    limit = 3
    with make_api(dataclasses.replace(settings, member_limit=limit)) as api:
        owner = make_user()
        shared = make_list(api, owner)
        joiners = [verify(sql, make_user()) for _ in range(8)]
        ids = []
        for joiner in joiners:
            made = invite(api, owner, shared["id"], joiner.email)
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        answers = api.gather(
            *[
                (
                    lambda j=j, i=i: api.arequest(
                        "POST", f"/api/me/invitations/{i}/accept", headers=j.headers
                    )
                )
                for j, i in zip(joiners, ids, strict=True)
            ]
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * limit + [409] * (len(joiners) - limit), codes
        refused = [a.json() for a in answers if a.status_code == 409]
        assert {r["type"] for r in refused} == {"urn:todo-api:problem:quota-exceeded"}
        (count,) = sql.execute(
            "SELECT count(*) FROM list_members WHERE list_id = %s", (shared["id"],)
        ).fetchone() or (None,)
        assert count == limit
        late = invite(api, owner, shared["id"], "late@example.org")
        assert (late.status_code, late.json()["type"]) == (
            409,
            "urn:todo-api:problem:quota-exceeded",
        )
        assert accept(api, joiners[0], ids[0]).status_code == 409
