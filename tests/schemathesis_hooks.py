"""schemathesis hooks (schemathesis.toml `hooks`): authenticate through the real signup and login.

Each token fetch signs up a new account and logs in to it, so every token schemathesis sends is
fresh and made by the service itself (a deleted account's 401 makes schemathesis fetch anew).

What a generated request cannot know, the hook fills in on the positive (schema-valid) cases:
- `{user_id}` must be the token's subject, else every task operation stops at 403. A generated
  well-formed id becomes the signed-in account's own, except about one in eight, kept as someone
  else's so the 403 path is exercised too. Malformed ids (negative cases) are left alone.
- The account's password is random, so `DELETE /api/me` and `PUT /api/me/password` would only
  ever see 403. Their positive cases carry the real password, so the success paths run too.
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
404's path names a resource whose list or parent task (as the service last answered it,
followed up the tree) a successful DELETE of this run removed. tests/test_conformance.py
plays the cascades against the service, and each drop and keep here.
"""

from __future__ import annotations

import re
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


_BY_AUTHORIZATION: dict[str, Identity] = {}
HOLDERS = ("list_id", "parent_id")  # the fields naming what a resource goes with
_HELD_BY: dict[str, set[str]] = {}  # a resource's id -> its list and parent, as last answered
_DELETED: set[str] = set()  # what a successful DELETE of this run removed (its path's last id)


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
        login = requests.post(
            f"{base}/api/auth/login", json={"email": email, "password": password}, timeout=TIMEOUT
        )
        if login.status_code != 200:
            raise RuntimeError(f"login answered {login.status_code}: {login.text}")
        pair = login.json()
        identity = Identity(pair["access_token"], pair["user"]["id"], password)
        _BY_AUTHORIZATION[f"Bearer {identity.token}"] = identity
        return identity

    def set(self, case: Any, data: Identity, ctx: Any) -> None:
        case.headers["Authorization"] = f"Bearer {data.token}"
        path = case.path_parameters
        if path and _replaceable_user_id(path.get("user_id")):
            path["user_id"] = data.user_id
        for name in [name for name, value in (path or {}).items() if value is None]:
            path[name] = str(uuid.uuid4())
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
    elif case.method.upper() == "DELETE" and (names := re.findall(r"{(\w+)}", case.path)):
        _DELETED.add(str(case.path_parameters[names[-1]]))
    else:
        _note_holders(response)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Every failure is kept, but a created resource's 404 after the deletion of what held it
    (see the module's docstring)."""
    if not isinstance(failure, EnsureResourceAvailability):
        return True
    return not any(_taken(str(value)) for value in (case.path_parameters or {}).values())


def _note_holders(response: Any) -> None:
    """A resource answered (made, read, moved): the list and parent it is in now."""
    try:
        body = response.json()
    except ValueError:  # no body, or not JSON
        return
    if isinstance(body, dict) and "id" in body:
        held = {body[field] for field in HOLDERS if isinstance(body.get(field), str)}
        if held:
            _HELD_BY[str(body["id"])] = held


def _taken(resource: str) -> bool:
    """Whether a DELETE of this run removed what holds `resource`, at any height."""
    seen: set[str] = set()
    todo = [resource]
    while todo:
        for holder in _HELD_BY.get(todo.pop(), set()) - seen:
            if holder in _DELETED:
                return True
            seen.add(holder)
            todo.append(holder)
    return False


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
