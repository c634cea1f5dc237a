"""Personal access tokens as a hostile client sends them (issue 27): what a forged, unknown or
deleted token is answered, wherever it is sent."""

from __future__ import annotations

import base64
import secrets
import uuid

from tests.support import Api, User
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
