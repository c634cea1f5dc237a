"""Personal access tokens (issue 27, SPEC §13): made, shown once, listed, deleted; what each
input may be; what a token may reach; how it ends."""

from __future__ import annotations

import base64
import dataclasses
import hmac
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from server.access.personal import PersonalTokenReader, new_token
from server.access.uses import TokenUses
from server.config import Settings
from tests.sharing import share
from tests.support import Api, User, eventually
from tests.test_sessions import bearer as sessions_bearer
from tests.test_sessions import log_in
from tests.test_stream_ends import _reset_password
from tests.tokens import SCOPES, TOKENS, bearer, make_token

ME = "/api/me"


def _tasks(user: User) -> str:
    return f"/api/{user.id}/tasks"


def test_a_token_is_shown_once_and_stored_only_as_a_keyed_hash(
    api: Api, user: User, settings: Settings, sql: psycopg.Connection[Any]
) -> None:
    made = make_token(api, user, "tasks:read", name="  backup  ")
    assert made["name"] == "backup"
    assert made["scopes"] == ["tasks:read"]
    assert made["last_used_at"] is None
    secret = made["token"]
    assert secret.startswith("tdo_")
    assert len(base64.urlsafe_b64decode(secret[4:] + "=")) == 65  # 32 of them random
    listed = api.get(TOKENS, headers=user.headers).json()["tokens"]
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0]
    row = sql.execute("SELECT * FROM access_tokens").fetchone()
    assert row is not None
    assert secret.encode() not in b"".join(str(v).encode() for v in row)
    stored = sql.execute("SELECT token_hash FROM access_tokens").fetchone()
    assert stored is not None
    key = settings.jwt_secret.encode()
    expected = hmac.digest(key, b"personal-access-token\0" + secret.encode(), "sha256")
    assert bytes(stored[0]) == expected


def test_absent_expiry_is_thirty_days_and_a_given_one_is_kept(api: Api, user: User) -> None:
    default = make_token(api, user, "tasks:read")
    created = datetime.fromisoformat(default["created_at"])
    assert datetime.fromisoformat(default["expires_at"]) - created == timedelta(days=30)
    year = make_token(api, user, "tasks:read", expires_in_days=365)
    created = datetime.fromisoformat(year["created_at"])
    assert datetime.fromisoformat(year["expires_at"]) - created == timedelta(days=365)


def test_a_token_reads_tasks_its_scope_covers_and_is_refused_a_write(
    api: Api, user: User, make_task: Callable[..., Any]
) -> None:
    task = make_task(user, title="Mine")
    token = make_token(api, user, "tasks:read")
    listed = api.get(_tasks(user), headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert [t["id"] for t in listed.json()["tasks"]] == [task["id"]]
    refused = api.post(_tasks(user), json={"title": "no"}, headers=bearer(token))
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"] == "urn:todo-api:problem:insufficient-scope"
    assert problem["required_scopes"] == ["tasks:write"]
    assert "tasks:write" in problem["detail"]
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer realm="todo-api", error="insufficient_scope", scope="tasks:write"'
    )
    assert len(api.get(_tasks(user), headers=user.headers).json()["tasks"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", TOKENS, {"name": "x", "scopes": ["tasks:read"]}),
        ("GET", TOKENS, None),
        ("PUT", "/api/me/password", {"current_password": "x", "new_password": "y" * 12}),
        ("PUT", "/api/me/email", {"new_email": "new@example.org", "password": "x"}),
        ("DELETE", ME, None),
        ("GET", "/api/me/sessions", None),
        ("POST", "/api/auth/logout-all", None),
    ],
)
def test_a_token_with_every_scope_never_reaches_session_operations(
    api: Api, user: User, method: str, path: str, body: Any
) -> None:
    token = make_token(api, user, *SCOPES)
    response = api.request(method, path, json=body, headers=bearer(token))
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "urn:todo-api:problem:insufficient-scope"
    assert response.json()["required_scopes"] == []
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert api.get(ME, headers=user.headers).status_code == 200
    assert len(api.get(TOKENS, headers=user.headers).json()["tokens"]) == 1


def test_a_token_cannot_leave_behind_a_webhook_or_a_calendar_feed(api: Api, user: User) -> None:
    token = make_token(api, user, *SCOPES)
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["task.created"]}
    for path, body in ((f"/api/{user.id}/webhooks", hook), (f"/api/{user.id}/calendar-feeds", {})):
        response = api.post(path, json=body, headers=bearer(token))
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "urn:todo-api:problem:insufficient-scope"
        assert api.get(path, headers=user.headers).json() in ({"webhooks": []}, {"feeds": []})


def test_a_token_acts_only_for_its_own_account(api: Api, user: User, other_user: User) -> None:
    token = make_token(api, user, "tasks:read")
    response = api.get(_tasks(other_user), headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["type"] == "urn:todo-api:problem:forbidden"


def test_a_deleted_token_is_401_and_deleting_it_again_is_404(api: Api, user: User) -> None:
    token = make_token(api, user, "tasks:read")
    assert api.get(_tasks(user), headers=bearer(token)).status_code == 200
    assert api.delete(f"{TOKENS}/{token['id']}", headers=user.headers).status_code == 204
    refused = api.get(_tasks(user), headers=bearer(token))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.delete(f"{TOKENS}/{token['id']}", headers=user.headers).status_code == 404
    # refused at once even where the scope would not cover it: 401, not 403
    assert api.post(_tasks(user), json={"title": "x"}, headers=bearer(token)).status_code == 401


def test_another_accounts_token_cannot_be_deleted(api: Api, user: User, other_user: User) -> None:
    theirs = make_token(api, other_user, "tasks:read")
    assert api.delete(f"{TOKENS}/{theirs['id']}", headers=user.headers).status_code == 404
    assert api.get(_tasks(other_user), headers=bearer(theirs)).status_code == 200


def test_an_expired_token_is_401_and_is_listed_until_the_next_token_is_made(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    token = make_token(api, user, "tasks:read")
    sql.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second'")
    assert api.get(_tasks(user), headers=bearer(token)).status_code == 401
    assert [t["id"] for t in api.get(TOKENS, headers=user.headers).json()["tokens"]] == [
        token["id"]
    ]
    fresh = make_token(api, user, "tasks:read")
    listed = api.get(TOKENS, headers=user.headers).json()["tokens"]
    assert [t["id"] for t in listed] == [fresh["id"]]


def test_a_token_of_a_deleted_account_is_401(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    token = make_token(api, user, *SCOPES)
    sql.execute("DELETE FROM users WHERE id = %s", (user.id,))
    for path in (ME, _tasks(user), f"/api/{user.id}/lists"):
        response = api.get(path, headers=bearer(token))
        assert response.status_code == 401, (path, response.text)
    assert sql.execute("SELECT count(*) FROM access_tokens").fetchone() == (0,)


@pytest.mark.parametrize("remedy", ["password change", "logout-all", "password reset"])
def test_each_remedy_for_a_stolen_credential_ends_every_token(
    api: Api, user: User, sql: psycopg.Connection[Any], remedy: str
) -> None:
    """A stolen session cannot mint a token that outlives the owner's remedies (the hostile
    review's F3): a password change, logout-all and a password reset each end every token."""
    tokens = [make_token(api, user, "account:read", expires_in_days=365) for _ in range(2)]
    if remedy == "password change":
        body = {"current_password": user.password, "new_password": "another horse battery"}
        done = api.put("/api/me/password", json=body, headers=user.headers)
    elif remedy == "logout-all":
        done = api.post("/api/auth/logout-all", headers=user.headers)
    else:
        done = api.run(_reset_password(api, user, {}, {}))
    assert done.status_code == 204, done.text
    for token in tokens:
        assert api.get(ME, headers=bearer(token)).status_code == 401, remedy
    assert sql.execute("SELECT count(*) FROM access_tokens").fetchone() == (0,)


def test_ending_one_session_leaves_the_tokens(api: Api, user: User) -> None:
    token = make_token(api, user, "account:read")
    ended, other = log_in(api, user), log_in(api, user)
    sessions = api.get("/api/me/sessions", headers=sessions_bearer(ended)).json()["sessions"]
    session = next(s["id"] for s in sessions if s["current"])
    gone = api.delete(f"/api/me/sessions/{session}", headers=sessions_bearer(other))
    assert gone.status_code == 204
    assert api.get(ME, headers=sessions_bearer(ended)).status_code == 401
    assert api.get(ME, headers=bearer(token)).status_code == 200


def test_a_token_can_grant_no_access_that_outlives_it(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    """Inviting someone, or raising a member's role, takes a session (the hostile review's F2):
    an invitation accepted after the token's deletion would be lasting access it left behind."""
    made = api.post(f"/api/{user.id}/lists", json={"name": "Mine"}, headers=user.headers)
    list_id = made.json()["id"]
    share(sql, user, list_id, other_user, "viewer")
    token = make_token(api, user, *SCOPES)
    base = f"/api/{user.id}/lists/{list_id}"
    invited = api.post(
        f"{base}/invitations",
        json={"email": "attacker@example.com", "role": "editor"},
        headers=bearer(token),
    )
    raised = api.patch(
        f"{base}/members/{other_user.id}", json={"role": "editor"}, headers=bearer(token)
    )
    for refused in (invited, raised):
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "urn:todo-api:problem:insufficient-scope"
    assert sql.execute("SELECT count(*) FROM invitations").fetchone() == (0,)
    assert sql.execute("SELECT role FROM list_members").fetchone() == ("viewer",)
    removed = api.delete(f"{base}/members/{other_user.id}", headers=bearer(token))
    assert removed.status_code == 204, "taking access away stays a token's (lists:write)"


@pytest.mark.parametrize(
    "secret",
    [
        "tdo_",
        "tdo_" + "A" * 87,  # well formed, no scope
        "tdo_" + "A" * 10_000,
        "tdo_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "tdo_" + "é" * 87,
        "TDO_" + "A" * 87,
    ],
    ids=["prefix-alone", "no-scope", "10KB", "jwt-looking", "non-ascii", "upper-prefix"],
)
def test_a_malformed_token_is_the_401_of_a_bad_access_token(
    api: Api, user: User, secret: str
) -> None:
    sent = f"Bearer {secret}".encode()  # the non-ASCII one as UTF-8 bytes
    response = api.get(_tasks(user), headers={"Authorization": sent})
    assert response.status_code in (401, 431), response.text
    if response.status_code == 401:
        assert response.json()["detail"] == "The access token is invalid."


def test_a_token_altered_in_its_scope_byte_is_401(api: Api, user: User) -> None:
    token = make_token(api, user, "tasks:read")
    raw = bytearray(base64.urlsafe_b64decode(token["token"][4:] + "="))
    raw[32] = 0b11111  # every scope
    forged = "tdo_" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    response = api.post(_tasks(user), json={"title": "x"}, headers=bearer(forged))
    assert response.status_code == 401, response.text
    assert api.get(_tasks(user), headers=user.headers).json()["tasks"] == []


def test_the_token_of_one_user_with_another_users_id_is_401(
    api: Api, user: User, other_user: User
) -> None:
    token = make_token(api, user, "tasks:read")
    raw = bytearray(base64.urlsafe_b64decode(token["token"][4:] + "="))
    raw[:16] = bytes.fromhex(other_user.id.replace("-", ""))
    forged = "tdo_" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert api.get(_tasks(other_user), headers=bearer(forged)).status_code == 401


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x", "scopes": []}, ["body", "scopes"]),
        ({"name": "x", "scopes": ["tasks:read", "tasks:read"]}, ["body", "scopes"]),
        ({"name": "x", "scopes": ["tasks:read", "tasks:admin"]}, ["body", "scopes", 1]),
        ({"name": "x", "scopes": ["tasks:read"] * 1000}, ["body", "scopes"]),
        ({"name": "", "scopes": ["tasks:read"]}, ["body", "name"]),
        ({"name": "   ", "scopes": ["tasks:read"]}, ["body", "name"]),
        ({"name": "x" * 101, "scopes": ["tasks:read"]}, ["body", "name"]),
        (
            {"name": "x", "scopes": ["tasks:read"], "expires_in_days": 0},
            ["body", "expires_in_days"],
        ),
        ({"name": "x", "scopes": ["tasks:read"], "expires_in_days": 366}, None),
        ({"name": "x", "scopes": ["tasks:read"], "expires_in_days": -1}, None),
        ({"name": "x", "scopes": ["tasks:read"], "expires_in_days": 10**30}, None),
        ({"name": "x", "scopes": ["tasks:read"], "expires_in_days": 1.5}, None),
        ({"scopes": ["tasks:read"]}, None),
        ({"name": "x"}, None),
    ],
)
def test_invalid_token_requests_are_422_and_make_nothing(
    api: Api, user: User, body: dict[str, Any], loc: list[Any] | None
) -> None:
    response = api.post(TOKENS, json=body, headers=user.headers)
    assert response.status_code == 422, response.text
    if loc is not None:
        assert loc in [e["loc"] for e in response.json()["errors"]], response.json()
    assert api.get(TOKENS, headers=user.headers).json() == {"tokens": []}


@pytest.mark.parametrize(
    "name", ["x" * 100, "  " + "x" * 100 + "\u3000", "İstanbul ß ǅ 🎉", "ﬃ" * 100]
)
def test_names_of_100_characters_after_trimming_are_kept(api: Api, user: User, name: str) -> None:
    assert make_token(api, user, "tasks:read", name=name)["name"] == name.strip()


def test_the_quota_holds_under_concurrent_creation(
    api: Api, user: User, settings: Settings
) -> None:
    quota = settings.access_token_quota
    for _ in range(quota - 3):
        make_token(api, user, "tasks:read")
    body = {"name": "race", "scopes": ["tasks:read"]}
    answers = api.gather(
        *[lambda: api.arequest("POST", TOKENS, json=body, headers=user.headers)] * 10
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 3 + [409] * 7, codes
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.json()["type"] == "urn:todo-api:problem:quota-exceeded"
    assert len(api.get(TOKENS, headers=user.headers).json()["tokens"]) == quota


def test_last_used_at_is_written_in_the_background(
    settings: Settings, make_api: Callable[..., Api], user: User
) -> None:
    with make_api(dataclasses.replace(settings, token_uses_interval=0.1)) as quick:
        token = make_token(quick, user, "tasks:read")
        unused = make_token(quick, user, "tasks:read")
        assert quick.get(_tasks(user), headers=bearer(token)).status_code == 200

        def used() -> Any:
            listed = quick.get(TOKENS, headers=user.headers).json()["tokens"]
            return {t["id"]: t["last_used_at"] for t in listed}

        seen = eventually(lambda: used()[token["id"]] is not None and used())
        assert seen, "last_used_at was never written"
        assert seen[unused["id"]] is None
        at = datetime.fromisoformat(seen[token["id"]])
        assert at >= datetime.fromisoformat(token["created_at"])


def test_the_last_uses_are_written_as_the_worker_stops(
    settings: Settings, make_api: Callable[..., Api], user: User, sql: psycopg.Connection[Any]
) -> None:
    with make_api(dataclasses.replace(settings, token_uses_interval=3600)) as slow:
        token = make_token(slow, user, "tasks:read")
        assert slow.get(_tasks(user), headers=bearer(token)).status_code == 200
        assert sql.execute("SELECT last_used_at FROM access_tokens").fetchone() == (None,)
    assert sql.execute("SELECT last_used_at IS NOT NULL FROM access_tokens").fetchone() == (True,)


def test_the_uses_kept_in_memory_are_bounded() -> None:
    uses = TokenUses(limit=3)
    for n in range(10):
        uses.note(f"token-{n}")
    uses.note("token-0")
    assert sorted(uses.pending) == ["token-0", "token-1", "token-2"]


def test_a_members_token_on_a_shared_list_holds_its_owners_role_and_no_more(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    """A viewer's token with tasks:write reads the shared list's task, and its write is the
    role's 403 permission-denied (the scope is not a role)."""
    owner, viewer = user, other_user
    made = api.post(f"/api/{owner.id}/lists", json={"name": "Shared"}, headers=owner.headers)
    list_id = made.json()["id"]
    share(sql, owner, list_id, viewer, "viewer")
    task = api.post(
        _tasks(owner), json={"title": "shared", "list_id": list_id}, headers=owner.headers
    ).json()
    token = make_token(api, viewer, "tasks:read", "tasks:write")
    one = f"{_tasks(viewer)}/{task['id']}"
    assert api.get(one, headers=bearer(token)).status_code == 200
    refused = api.patch(one, json={"title": "mine now"}, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:todo-api:problem:permission-denied"
    mine = f"{_tasks(owner)}/{task['id']}"
    assert api.get(mine, headers=owner.headers).json()["title"] == "shared"


def test_what_tokens_say_is_remembered_within_a_bound(settings: Settings) -> None:
    """The gate's memory of tokens it read holds at most `size` of them; a token read again is
    what it said (whether it is live is asked of PostgreSQL on every request regardless)."""
    reader = PersonalTokenReader(settings, size=2)
    tokens = [new_token(settings, str(uuid.uuid4()), ["tasks:read"]) for _ in range(3)]
    for token, said in tokens:
        assert reader.read(token) == said
    assert len(reader._read) == 2
    assert reader.read(tokens[0][0]) == tokens[0][1]
