"""schemathesis hooks (schemathesis.toml `hooks`): authenticate through the real signup and login.

Each token fetch signs up a new account and logs in to it, so every token schemathesis sends is
fresh and made by the service itself (a deleted account's 401 makes schemathesis fetch anew,
in every phase but the stateful one: see the sessions below).

What a generated request cannot know, the hook fills in on the positive (schema-valid) cases:
- `{user_id}` must be the token's subject, else every task operation stops at 403. A generated
  well-formed id becomes the signed-in account's own, except about one in eight, kept as someone
  else's so the 403 path is exercised too. Malformed ids (negative cases) are left alone.
- The account's password is random, so `DELETE /api/me` and `PUT /api/me/password` would only
  ever see 403. Their positive cases carry the real password, so the success paths run too.
- The stateful phase links GET /api/me/sessions to DELETE /api/me/sessions/{session_id}, and
  the account's one session is the token's own: ending it left every later step of the phase
  a 401 (schemathesis 4.32 fetches a token anew after a 401 in the other phases only), checking
  next to nothing (findings-s40-flake.md F1). Each account logs in twice; a positive DELETE of
  the token's own session ends the other one instead, which the run never uses.
- A stateful step that follows a link to a field that was null (a calendar feed's `list_id`
  for all lists, say) gets that null as its path parameter: schemathesis 4.32 checks a
  wildcard's matches for null before it picks one of them (at random, outside its seed), and
  sends the pick as the text `None`, which the service answers
  with the documented 400 and the positive-data check calls a valid request refused (a
  fresh-clone run of stop 38). A null path parameter becomes a fresh id there: a request the
  contract allows, naming nothing (404).

One check is narrowed by what the run itself saw: ensure_resource_availability (ST302) says a
resource made by a POST must not answer 404 to a later request through its link, unless a
DELETE at or above its path came between. The contract's cascades reach sideways: a list's
deletion takes its tasks (and their comments) and its calendar feeds (delete_list, and the
feed's 404), a task's takes its subtasks, though none sits below the deleted path. A stateful
run that made a list, a feed of it, deleted the list and then revoked the feed saw that 404
as a failure (CI of stop 39). `filter_failure` drops that failure, and only it: when the
404's path names a resource whose list, or parent task for a subtask (as the service last
answered it, followed up the tree), a successful DELETE of a list or a task in this run
removed and no restore brought back. tests/test_conformance.py plays the cascades against the
service, and each drop and keep here.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import requests
import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import EnsureResourceAvailability

TIMEOUT = 10
CONFIRMED = {("DELETE", "/api/me"): "password", ("PUT", "/api/me/password"): "current_password"}


@dataclass
class Identity:
    token: str
    user_id: str
    password: str
    session_id: str  # the token's own session
    spare: str  # a second session of the account, which a DELETE of the first ends instead


_BY_AUTHORIZATION: dict[str, Identity] = {}
HOLDERS = ("parent_id", "list_id")  # what a resource goes with, the first one it names
_HELD_BY: dict[str, str] = {}  # a task's or feed's id -> its parent (a subtask's) or list
_DELETED: set[str] = set()  # lists and tasks a successful DELETE of this run removed
TAKING = {  # the DELETEs whose cascades reach sideways: the path parameter each removes
    "/api/{user_id}/lists/{list_id}": "list_id",
    "/api/{user_id}/tasks/{task_id}": "task_id",
}
RESTORE = "/api/{user_id}/trash/{task_id}/restore"  # brings a task back, its subtasks with it
SESSION = ("DELETE", "/api/me/sessions/{session_id}")


@schemathesis.auth(refresh_interval=600)
class SignupAndLogin:
    def get(self, case: Any, ctx: Any) -> Identity:
        base = ctx.operation.schema.get_base_url()
        email = f"conformance-{secrets.token_hex(8)}@example.org"
        password = secrets.token_urlsafe(24)
        signup = requests.post(
            f"{base}/api/auth/signup",
            json={"email": email, "password": password, "name": "Schemathesis"},
            timeout=TIMEOUT,
        )
        if signup.status_code != 201:
            raise RuntimeError(f"signup answered {signup.status_code}: {signup.text}")
        pair, spare = (_login(base, email, password) for _ in range(2))
        token = pair["access_token"]
        identity = Identity(
            token,
            pair["user"]["id"],
            password,
            _session_of(token),
            _session_of(spare["access_token"]),
        )
        _BY_AUTHORIZATION[f"Bearer {identity.token}"] = identity
        return identity

    def set(self, case: Any, data: Identity, ctx: Any) -> None:
        case.headers["Authorization"] = f"Bearer {data.token}"
        path = case.path_parameters
        if path and _replaceable_user_id(path.get("user_id")):
            path["user_id"] = data.user_id
        for name in [name for name, value in (path or {}).items() if value is None]:
            path[name] = str(uuid.uuid4())
        if (case.method.upper(), case.path) == SESSION and path["session_id"] == data.session_id:
            path["session_id"] = data.spare  # (the token's own would end the run's every step)
        field = CONFIRMED.get((case.method.upper(), case.path))
        if field and isinstance(case.body, dict) and field in case.body and _positive_body(case):
            case.body[field] = data.password


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """A changed password is the one the next confirmation needs; and what holds each
    resource answered, and what was deleted, for `filter_failure`."""
    if not 200 <= response.status_code < 300:
        return
    if (case.method.upper(), case.path) == ("PUT", "/api/me/password"):
        identity = _BY_AUTHORIZATION.get(case.headers.get("Authorization", ""))
        if identity is not None:
            identity.password = case.body["new_password"]
    elif case.method.upper() == "DELETE" and case.path in TAKING:
        _DELETED.add(str(case.path_parameters[TAKING[case.path]]))
    else:
        if case.method.upper() == "POST" and case.path == RESTORE:
            _DELETED.discard(str(case.path_parameters["task_id"]))
        _note_holders(response)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Every failure is kept, but a created resource's 404 after the deletion of what held it
    (see the module's docstring)."""
    if not isinstance(failure, EnsureResourceAvailability):
        return True
    return not any(_taken(str(value)) for value in (case.path_parameters or {}).values())


def _note_holders(response: Any) -> None:
    """A resource answered (made, read, moved): what it goes with now, a subtask its parent
    (whose list it follows when the parent moves), anything else its list."""
    try:
        body = response.json()
    except ValueError:  # no body, or not JSON
        return
    if isinstance(body, dict) and "id" in body:
        for field in HOLDERS:
            if isinstance(body.get(field), str):
                _HELD_BY[str(body["id"])] = body[field]
                return


def _taken(resource: str) -> bool:
    """Whether a DELETE of this run removed what holds `resource`, at any height."""
    seen = {resource}
    holder = _HELD_BY.get(resource)
    while holder is not None and holder not in seen:
        if holder in _DELETED:
            return True
        seen.add(holder)
        holder = _HELD_BY.get(holder)
    return False


def _login(base: str, email: str, password: str) -> dict[str, Any]:
    login = requests.post(
        f"{base}/api/auth/login", json={"email": email, "password": password}, timeout=TIMEOUT
    )
    if login.status_code != 200:
        raise RuntimeError(f"login answered {login.status_code}: {login.text}")
    pair: dict[str, Any] = login.json()
    return pair


def _session_of(token: str) -> str:
    """The session (`sid`) an access token names, read from its payload (not checked here:
    the service issued it a moment ago)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sid"])


def _replaceable_user_id(value: object) -> bool:
    """A well-formed user id to replace with the signed-in one (7 in 8 of them)."""
    if not isinstance(value, str):
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.int % 8 != 0


def _positive_body(case: Any) -> bool:
    meta = case.meta
    return meta is None or not meta.is_negative_at(ParameterLocation.BODY)
