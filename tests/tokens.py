"""Personal access tokens made through the API, for the tests that use them (issue 27)."""

from __future__ import annotations

from typing import Any

from tests.support import Api, User

TOKENS = "/api/me/tokens"
SCOPES = ("tasks:read", "tasks:write", "lists:read", "lists:write", "account:read")


def make_token(api: Api, owner: User, *scopes: str, **fields: Any) -> dict[str, Any]:
    """A new token of `owner` holding `scopes` (the 201's body: its secret in `token`)."""
    body = {"name": "script", "scopes": list(scopes), **fields}
    response = api.post(TOKENS, json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def bearer(token: dict[str, Any] | str) -> dict[str, str]:
    secret = token if isinstance(token, str) else token["token"]
    return {"Authorization": f"Bearer {secret}"}
