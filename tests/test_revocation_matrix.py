"""Every operation that reads or writes account data refuses a revoked session (SPEC §9).

Generated from openapi.yaml: each operation with bearer security is called with a request built
from the contract (the caller's own user id, a real task or list of the caller's for task_id and
list_id, a fresh id for any other path parameter; required parameters and the body from the
contract's examples) by a session its owner logged out: 401 with WWW-Authenticate, and nothing
of the account changed. The same request with the owner's live session answers something else,
so the matrix can fail. A new operation is covered without editing this file; one the test
cannot build a request for fails here, by name.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support import Api, User
from tests.test_contract_examples import _deref, load_contract
from tests.test_sessions import LOGOUT, bearer, log_in

CONTRACT = load_contract()
METHODS = ("get", "put", "post", "delete", "patch")
STREAM = "text/event-stream"


def bearer_operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(operationId, method, path, operation) of every operation a bearer token opens."""
    found = []
    for path, item in CONTRACT["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            security = operation.get("security", CONTRACT.get("security", []))
            if any("bearerAuth" in requirement for requirement in security):
                parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
                operation = {**operation, "parameters": parameters}
                found.append((operation["operationId"], method, path, operation))
    return found


OPERATIONS = bearer_operations()


def _example(holder: dict[str, Any], what: str) -> Any:
    """The first example the contract gives for a parameter or a media type."""
    if "example" in holder:
        return holder["example"]
    for entry in holder.get("examples", {}).values():
        example, _ = _deref(CONTRACT, entry, what)
        return example["value"]
    pytest.fail(f"{what}: the contract gives no example to build a request from")


def _unmade(param: dict[str, Any]) -> str:
    """An id of the parameter's type that names nothing the test made."""
    if param.get("schema", {}).get("type") == "integer":
        return str(2**50 + uuid.uuid4().int % 2**40)
    return str(uuid.uuid4())


def build(
    operation_id: str, path: str, operation: dict[str, Any], owner: User, objects: dict[str, str]
) -> dict[str, Any]:
    """The request's URL, query, headers and body, from the contract."""
    url, query, headers, body = path, {}, {}, None
    for node in operation.get("parameters", []):
        param, _ = _deref(CONTRACT, node, operation_id)
        name, where = param["name"], param["in"]
        if where == "path":
            value = owner.id if name == "user_id" else objects.get(name) or _unmade(param)
            url = url.replace("{" + name + "}", value)
        elif param.get("required"):
            value = _example(param, f"{operation_id} {where} {name}")
            if where == "query":
                query[name] = value
            elif where == "header":
                headers[name] = str(value)
            else:
                pytest.fail(f"{operation_id}: cannot send a required {where} parameter {name}")
    assert "{" not in url, f"{operation_id}: a path parameter was left unfilled: {url}"
    request_body = _deref(CONTRACT, operation.get("requestBody"), operation_id)[0]
    if request_body:
        media = request_body["content"].get("application/json")
        if media is None:
            pytest.fail(f"{operation_id}: no application/json body to build a request from")
        body = _example(media, f"{operation_id} body")
    return {"url": url, "params": query, "headers": headers, "json": body}


def streams(operation: dict[str, Any]) -> bool:
    for response in operation["responses"].values():
        if STREAM in _deref(CONTRACT, response, "")[0].get("content", {}):
            return True
    return False


def send(api: Api, method: str, request: dict[str, Any], auth: dict[str, str], stream: bool) -> Any:
    """The answer (its status and headers); a stream is answered by its status alone."""
    headers = {**request["headers"], **auth}
    args = {k: v for k, v in request.items() if k not in ("url", "headers") and v is not None}
    if not stream:
        return api.request(method.upper(), request["url"], headers=headers, **args)

    async def opened() -> httpx.Response:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            client.stream(method.upper(), request["url"], headers=headers, **args) as response,
        ):
            return response

    return api.run(opened())


def snapshot(api: Api, owner: User, auth: dict[str, str]) -> list[Any]:
    """What the account holds, read with the live session."""
    reads = ["/api/me", f"/api/{owner.id}/tasks", f"/api/{owner.id}/lists"]
    return [api.get(path, headers=auth).json() for path in [*reads, f"/api/{owner.id}/trash"]]


def test_the_matrix_covers_the_contracts_bearer_operations() -> None:
    """The matrix is the contract's, whole: an operation with no bearer security is the only
    one left out (signup, login, refresh, logout, the system's)."""
    ids = {operation_id for operation_id, *_ in OPERATIONS}
    assert {"get_me", "create_task", "batch_tasks", "stream_events", "list_lists"} <= ids
    assert not ids & {"signup", "login", "refresh", "logout", "health", "metrics"}


@pytest.mark.parametrize(
    ("operation_id", "method", "path", "operation"), OPERATIONS, ids=[o[0] for o in OPERATIONS]
)
def test_a_revoked_session_gets_401_on_every_bearer_operation(
    api: Api, user: User, operation_id: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    live = user.headers
    task = api.post(f"/api/{user.id}/tasks", json={"title": "Kept"}, headers=live).json()
    made = api.post(f"/api/{user.id}/lists", json={"name": "Kept"}, headers=live).json()
    request = build(
        operation_id,
        path,
        operation,
        user,
        {"task_id": task["id"], "list_id": made["id"], "delivery_id": "1"},
    )
    pair = log_in(api, user)
    assert api.post(LOGOUT, json={"refresh_token": pair["refresh_token"]}).status_code == 204
    before = snapshot(api, user, live)

    revoked = send(api, method, request, bearer(pair), streams(operation))
    assert revoked.status_code == 401, f"{operation_id}: {revoked.status_code}"
    assert revoked.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(api, user, live) == before, f"{operation_id} changed a revoked account"

    answered = send(api, method, request, live, streams(operation))
    assert answered.status_code != 401, f"{operation_id} refuses a live session: {answered.text}"
