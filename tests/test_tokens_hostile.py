"""Personal access tokens as a hostile client sends them (issue 27): what a forged, unknown or
deleted token is answered, wherever it is sent."""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any

import psycopg

from tests.support import Api, User
from tests.test_invitation_races import during
from tests.tokens import TOKENS, bearer, make_token


def forged(user_id: str) -> str:
    """A well-formed token naming `user_id` that no one ever made (anyone can write one)."""
    raw = uuid.UUID(user_id).bytes + uuid.uuid4().bytes + bytes([1]) + secrets.token_bytes(32)
    return "tdo_" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_no_one_holds_is_401_on_another_accounts_path_too(
    api: Api, user: User, other_user: User
) -> None:
    """An unknown, forged or deleted token is the 401 of a bad access token everywhere, as a
    forged JWT is: never the 403 of a caller known to be someone else."""
    deleted = make_token(api, user, "tasks:read")
    assert api.delete(f"{TOKENS}/{deleted['id']}", headers=user.headers).status_code == 204
    for token in (forged(user.id), forged(other_user.id), deleted["token"]):
        for path in (f"/api/{other_user.id}/tasks", f"/api/{user.id}/tasks"):
            response = api.get(path, headers=bearer(token))
            assert response.status_code == 401, (path, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_live_token_on_another_accounts_path_is_403_as_a_session_is(
    api: Api, user: User, other_user: User
) -> None:
    token = make_token(api, user, "tasks:read")
    response = api.get(f"/api/{other_user.id}/tasks", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["type"] == "urn:todo-api:problem:forbidden"
    refused = api.post(f"/api/{other_user.id}/tasks", json={"title": "x"}, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:todo-api:problem:forbidden"


# What a password reset writes (server/accounts/recovery.py: the new hash, every login family
# ended, every personal token deleted), in one transaction, as one statement here.
RESET = (
    "WITH reset AS (UPDATE users SET password_hash = password_hash WHERE id = %s),"
    " families AS (UPDATE login_families SET ended_at = now()"
    "  WHERE user_id = %s AND ended_at IS NULL)"
    " DELETE FROM access_tokens WHERE user_id = %s"
)


def test_a_token_made_while_a_password_reset_commits_does_not_outlive_it(
    api: Api, user: User, sql: psycopg.Connection[Any], database_url: str
) -> None:
    """A session asks for a token while a password reset of its account is being written: the
    creation waits for the account's lock, and once the reset has committed its session is
    over, so the answer is 401 and no token is left (a token made then would be the one
    credential the reset did not end: a thief's way past the owner's reset)."""
    answer = during(
        api,
        database_url,
        RESET,
        (user.id, user.id, user.id),
        lambda: api.arequest(
            "POST", TOKENS, json={"name": "late", "scopes": ["tasks:read"]}, headers=user.headers
        ),
    )
    assert answer.status_code == 401, answer.text
    left = sql.execute("SELECT count(*) FROM access_tokens WHERE user_id = %s", (user.id,))
    assert left.fetchone() == (0,)
