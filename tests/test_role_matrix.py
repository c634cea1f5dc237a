"""Every operation under /api/{user_id}/ answers each kind of caller as its `x-required-role`
says (SPEC §11, issue 26).

Generated from openapi.yaml, as tests/test_revocation_matrix.py builds its requests: each
operation is sent by each kind of caller, on their own path, about an owner's shared list L (its
task, and a task of it in the trash, for task_id; L itself for list_id, and for list_id in the
query or the body when the operation takes one). The role that applies is the caller's role on
L when the request names L, else `owner` (what the caller does in their own account):

- a revoked session: 401, and nothing of the owner's changed;
- a role that reaches the declaration: the owner's answer to the same request about a twin list
  (an owner reaches every declaration: never 401, 403 or 5xx, nor 404 but for an id of the
  path that the test does not make, such as a calendar feed's);
- a role below it: 403 `permission-denied` naming the declared role, and nothing changed;
- no role (a non-member, a removed member, the holder of a pending invitation to L): the
  answer to the same request about ids that do not exist (byte for byte but the request id and
  instance when the path names the object), no id of L's in it, and nothing changed.

A new operation is covered without editing this file.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from server.access.gate import RANKS
from server.access.tokens import issue_access_token
from server.config import Settings
from tests.conftest import start_session
from tests.sharing import invite, share, unshare, verify
from tests.support import Api, User
from tests.test_contract_examples import _deref
from tests.test_revocation_matrix import CONTRACT, build, send, streams
from tests.test_revocation_matrix import OPERATIONS as BEARER_OPERATIONS

OPERATIONS = [o for o in BEARER_OPERATIONS if o[2].startswith("/api/{user_id}/")]
# Each kind of caller, with the role it holds on the shared list (None: none at all).
CALLERS: dict[str, str | None] = {
    "owner": "owner",
    "editor": "editor",
    "viewer": "viewer",
    "non_member": None,
    "removed_member": None,
    "invited": None,  # the holder of a pending invitation to the list, verified: no role yet
    "revoked_session": "editor",  # an editor's, whose session ended
}
PROBLEM_VOLATILE = ("request_id", "instance")


@dataclass
class Twin:
    """One shared list of the owner's: its id, a task in it, and a task of it in the trash."""

    list_id: str
    task_id: str
    trashed_id: str

    def objects(self, path: str) -> dict[str, str]:
        task = self.trashed_id if "/trash/" in path else self.task_id
        return {"task_id": task, "list_id": self.list_id}

    def ids(self) -> set[str]:
        return {self.list_id, self.task_id, self.trashed_id}


@dataclass
class World:
    owner: User
    callers: dict[str, tuple[User, dict[str, str]]]  # kind -> (account, Authorization)
    mine: Twin  # the owner's own requests act on it
    theirs: Twin  # the callers' act on it


def _twin(api: Api, sql: psycopg.Connection[Any], owner: User, members: dict[str, User]) -> Twin:
    auth = owner.headers
    made = api.post(f"/api/{owner.id}/lists", json={"name": "Shared"}, headers=auth).json()
    for role, member in members.items():
        share(sql, owner, made["id"], member, role.removeprefix("removed_"))
    tasks = [
        api.post(
            f"/api/{owner.id}/tasks", json={"title": title, "list_id": made["id"]}, headers=auth
        ).json()
        for title in ("Kept", "Trashed")
    ]
    assert api.delete(f"/api/{owner.id}/tasks/{tasks[1]['id']}", headers=auth).status_code == 204
    if "removed_editor" in members:
        unshare(sql, made["id"], members["removed_editor"])
    return Twin(made["id"], tasks[0]["id"], tasks[1]["id"])


@pytest.fixture
def world(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User], settings: Settings
) -> World:
    owner, editor, viewer, stranger, removed, invited = (make_user() for _ in range(6))
    members = {"editor": editor, "viewer": viewer, "removed_editor": removed}
    mine, theirs = (_twin(api, sql, owner, members) for _ in range(2))
    invitation = invite(api, owner, theirs.list_id, verify(sql, invited).email, "editor")
    assert invitation.status_code == 201, invitation.text
    session = start_session(sql, editor.id)
    revoked = {"Authorization": f"Bearer {issue_access_token(settings, editor.id, session)}"}
    sql.execute("UPDATE login_families SET ended_at = now() WHERE id = %s", (session,))
    callers = {
        "owner": (owner, owner.headers),
        "editor": (editor, editor.headers),
        "viewer": (viewer, viewer.headers),
        "non_member": (stranger, stranger.headers),
        "removed_member": (removed, removed.headers),
        "invited": (invited, invited.headers),
        "revoked_session": (editor, revoked),
    }
    return World(owner, callers, mine, theirs)


def request_about(
    operation_id: str, path: str, operation: dict[str, Any], who: User, twin: Twin
) -> dict[str, Any]:
    """The contract's request, by `who`, about the twin: its path objects, and its list_id in
    the query and the body where the operation takes one."""
    request = build(operation_id, path, operation, who, twin.objects(path))
    for node in operation.get("parameters", []):
        param, _ = _deref(CONTRACT, node, operation_id)
        if param["in"] == "query" and param["name"] == "list_id":
            request["params"] = {**request["params"], "list_id": twin.list_id}
    body = _deref(CONTRACT, operation.get("requestBody"), operation_id)[0]
    if body and isinstance(request["json"], dict):
        schema, _ = _deref(CONTRACT, body["content"]["application/json"]["schema"], operation_id)
        if "list_id" in schema.get("properties", {}):
            request["json"] = {**request["json"], "list_id": twin.list_id}
    return request


def names_the_list(path: str, request: dict[str, Any]) -> bool:
    """Whether the request acts on the shared list (else on the caller's own account)."""
    in_path = "{task_id}" in path or "{list_id}" in path
    body = request["json"] if isinstance(request["json"], dict) else {}
    return in_path or "list_id" in request["params"] or "list_id" in body


def snapshot(api: Api, owner: User) -> list[Any]:
    """What the owner holds, read with the owner's session."""
    reads = ["tasks?status=all&limit=100", "lists", "trash?limit=100"]
    return [api.get(f"/api/{owner.id}/{read}", headers=owner.headers).json() for read in reads]


def elsewhere(request: dict[str, Any], twin: Twin) -> dict[str, Any]:
    """The same request about ids that name nothing."""
    text = json.dumps(request)
    for known in twin.ids():
        text = text.replace(known, str(uuid.uuid4()))
    changed: dict[str, Any] = json.loads(text)
    return changed


def test_the_matrix_covers_every_operation_of_an_account_path() -> None:
    ids = {operation_id for operation_id, *_ in OPERATIONS}
    assert {"get_task", "update_task", "delete_list", "restore_task", "list_tasks"} <= ids
    assert all(operation.get("x-required-role") in RANKS for *_, operation in OPERATIONS)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(
    ("operation_id", "method", "path", "operation"), OPERATIONS, ids=[o[0] for o in OPERATIONS]
)
def test_each_caller_is_answered_as_the_declared_role_says(
    api: Api,
    world: World,
    caller: str,
    operation_id: str,
    method: str,
    path: str,
    operation: dict[str, Any],
) -> None:
    declared: str = operation["x-required-role"]
    who, auth = world.callers[caller]
    request = request_about(operation_id, path, operation, who, world.theirs)
    role = CALLERS[caller] if names_the_list(path, request) else "owner"
    stream = streams(operation)
    before = snapshot(api, world.owner)
    answer = send(api, method, request, auth, stream)
    status = answer.status_code
    where = f"{operation_id} as {caller}: {status} {'' if stream else answer.text[:300]}"

    if caller == "revoked_session":
        assert status == 401, where
        assert snapshot(api, world.owner) == before, where
    elif role is None:
        assert snapshot(api, world.owner) == before, where
        if not stream:
            assert not world.theirs.ids() & set(_ids_in(_told(answer))), where
        missing = send(api, method, elsewhere(request, world.theirs), auth, stream)
        assert status == missing.status_code, where
        if "{task_id}" in path or "{list_id}" in path:
            assert status == 404, where
            assert _problem(answer) == _problem(missing), where
    elif RANKS[role] < RANKS[declared]:
        assert status == 403, where
        assert answer.json()["type"].endswith("permission-denied"), where
        assert answer.json()["required_role"] == declared, where
        assert snapshot(api, world.owner) == before, where
    else:
        # An id the world does not make (a feed's, a webhook's) names nothing even for the
        # owner: 404 is the owner's answer too, which the comparison below holds the member to.
        unmade = set(re.findall(r"\{(\w+)\}", path)) - {"user_id", "task_id", "list_id"}
        assert status not in ((401, 403) if unmade else (401, 403, 404)), where
        assert status < 500, where
        if caller != "owner":
            owners = request_about(operation_id, path, operation, world.owner, world.mine)
            expected = send(api, method, owners, world.owner.headers, stream).status_code
            assert status == expected, f"{where}; the owner's: {expected}"


def _problem(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    return {k: v for k, v in body.items() if k not in PROBLEM_VOLATILE}


def _told(answer: Any) -> str:
    """What an answer tells, but the request's own path (a problem's instance)."""
    if not answer.content:
        return ""
    body = answer.json()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "instance"}
    return json.dumps(body)


def _ids_in(text: str) -> list[str]:
    """Every uuid-shaped word of an answer."""
    return re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)
