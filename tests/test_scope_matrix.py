"""Every operation answers a personal access token as its `security` declares (issue 27).

Generated from openapi.yaml, as tests/test_revocation_matrix.py builds its requests: each
operation a bearer token opens is sent by a token of each single scope, and by a session, about
the caller's own task and list. A token whose scope covers what the operation's `personalToken`
requirement lists is answered as a caller allowed there is (never 401 or 403, nor 5xx); any
other token is 403 `insufficient-scope` naming the scopes needed (none when the operation lists
no `personalToken`: a session is needed), with RFC 6750's challenge, and nothing of the account
changed; a session is never `insufficient-scope`. A new operation is covered without editing
this file. The contract itself is checked too: each operation declares its security, with
scopes among the five, and a 403 to answer a token with.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from server.access.personal import SCOPES as TOKEN_SCOPES
from server.contract.loading import TOKEN_SCHEME
from tests.support import Api, User
from tests.test_revocation_matrix import CONTRACT, METHODS, OPERATIONS, build, send, streams
from tests.tokens import SCOPES, make_token

SCHEMES = set(CONTRACT["components"]["securitySchemes"])
CALLERS = (*SCOPES, "session")


def needed(operation: dict[str, Any]) -> frozenset[str] | None:
    """What a token needs on the operation (None: it may not call it)."""
    for requirement in operation["security"]:
        if TOKEN_SCHEME in requirement:
            return frozenset(requirement[TOKEN_SCHEME])
    return None


def every_operation() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", item[method])
        for path, item in CONTRACT["paths"].items()
        for method in METHODS
        if method in item
    ]


def test_the_scopes_are_the_servers() -> None:
    assert SCOPES == TOKEN_SCOPES
    assert CONTRACT["components"]["schemas"]["Scope"]["enum"] == list(TOKEN_SCOPES)


@pytest.mark.parametrize(("name", "operation"), every_operation(), ids=lambda v: str(v)[:60])
def test_each_operation_declares_its_security_with_known_scopes(
    name: str, operation: dict[str, Any]
) -> None:
    """No operation leans on the document's default; a token's scopes are among the five, in
    one requirement; only bearer operations list a token, and each of them declares a 403."""
    assert "security" in operation, f"{name} declares no security"
    security = operation["security"]
    for requirement in security:
        assert set(requirement) <= SCHEMES, f"{name}: unknown scheme in {requirement}"
        for scheme, scopes in requirement.items():
            if scheme == TOKEN_SCHEME:
                assert scopes, f"{name}: personalToken with no scope"
                assert set(scopes) <= set(TOKEN_SCOPES), f"{name}: unknown scope in {scopes}"
                assert len(set(scopes)) == len(scopes), name
            else:
                assert scopes == [], f"{name}: {scheme} takes no scopes"
        assert len(requirement) == 1, f"{name}: one scheme per requirement ({requirement})"
    tokens = [r for r in security if TOKEN_SCHEME in r]
    assert len(tokens) <= 1, f"{name}: one personalToken requirement at most"
    if tokens:
        assert {"bearerAuth": []} in security, f"{name}: a token where a session may not go"
    if security:
        assert "403" in operation["responses"], f"{name}: no 403 to answer a token with"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("operation_id", "method", "path", "operation"), OPERATIONS, ids=[o[0] for o in OPERATIONS]
)
def test_each_operation_answers_each_scope_as_declared(
    api: Api,
    user: User,
    sql: psycopg.Connection[Any],
    operation_id: str,
    method: str,
    path: str,
    operation: dict[str, Any],
    caller: str,
) -> None:
    h = user.headers
    task = api.post(f"/api/{user.id}/tasks", json={"title": "Kept"}, headers=h).json()
    made = api.post(f"/api/{user.id}/lists", json={"name": "Kept"}, headers=h).json()
    objects = {"task_id": task["id"], "list_id": made["id"]}
    auth = (
        h
        if caller == "session"
        else {"Authorization": f"Bearer {make_token(api, user, caller)['token']}"}
    )
    request = build(operation_id, path, operation, user, objects)
    before = _state(sql, user)
    needs = needed(operation)
    covered = caller == "session" or (needs is not None and needs <= {caller})
    # a refused stream is a plain answer, read whole
    response = send(api, method, request, auth, covered and streams(operation))
    if covered:  # answered as the operation answers (a wrong password's 403 on delete_me)
        assert response.status_code != 401, (caller, response.status_code)
        assert response.status_code < 500, response.status_code
        if response.status_code == 403:
            assert response.json()["type"] != "urn:todo-api:problem:insufficient-scope"
        return
    assert response.status_code == 403, (caller, response.status_code)
    problem = response.json()
    assert problem["type"] == "urn:todo-api:problem:insufficient-scope"
    assert problem["required_scopes"] == sorted(needs or ())
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    if needs:
        assert f'scope="{" ".join(sorted(needs))}"' in challenge
    assert _state(sql, user) == before, "a refused request changed the account"


def _state(sql: psycopg.Connection[Any], user: User) -> tuple[Any, ...]:
    """What a write of the account would move: its row, its counter, and its objects' count."""
    row = sql.execute(
        "SELECT u.updated_at, u.revision, u.email, u.password_hash,"
        " (SELECT count(*) FROM tasks WHERE user_id = u.id),"
        " (SELECT count(*) FROM lists WHERE user_id = u.id),"
        " (SELECT count(*) FROM access_tokens WHERE user_id = u.id),"
        " (SELECT count(*) FROM login_families WHERE user_id = u.id AND ended_at IS NULL),"
        " (SELECT count(*) FROM webhooks WHERE user_id = u.id),"
        " (SELECT count(*) FROM calendar_feeds WHERE user_id = u.id)"
        " FROM users AS u WHERE u.id = %s",
        (user.id,),
    ).fetchone()
    assert row is not None
    return tuple(row)
