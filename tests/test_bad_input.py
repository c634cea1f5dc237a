"""Bad input on every operation's body, query and path: never a 500, never a hang, and never a
change to another user's data.

Hypothesis drives it with a fixed derandomized seed and bounded examples: random JSON, wrong
types, huge and deeply nested values, invalid UTF-8, U+0000 and control characters, and
SQL-injection text (which must be stored verbatim and come back unchanged). Every response is
also checked against openapi.yaml by the test client. A client timeout is the guard on hangs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server.app import load_contract
from tests.support import Api, User

pytestmark = pytest.mark.slow

TIMEOUT = 10  # seconds: an answer slower than this is a hang
EXAMPLES = 1000
PROBE = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SQL_INJECTIONS = [
    "'; DROP TABLE tasks; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM users WHERE 1=1",
    "' UNION SELECT id, email, password_hash FROM users --",
    "%' OR title ILIKE '%",
    "$1::text",
    "\\'; SELECT pg_sleep(30); --",
    "Robert'); DROP TABLE students;--",
    "_%\\",
]
NASTY_TEXT = [
    *SQL_INJECTIONS,
    "\x00",
    "nul\x00inside",
    "\x01\x02\x1b[31m\x7f",
    "\u202e\u200b\ufeff",
    "🥛" * 50,
    "../../../../etc/passwd",
    "%00%2e%2e%2f",
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}",
    "x" * 70_000,
    "",
    " ",
]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(NASTY_TEXT)
)
JSON_VALUES = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)


def _nested(depth: int) -> str:
    return '{"title": ' + "[" * depth + "]" * depth + "}"


RAW_BODIES = st.sampled_from(
    [
        b"",
        b"{",
        b'{"title": "x"',
        b"\xff\xfe\x00garbage",
        b'{"title": "\xc3\x28"}',  # invalid UTF-8 inside a string
        b'{"title": "\\ud800"}',  # an unpaired surrogate, valid JSON
        b'{"title": "a\\u0000b"}',
        b"[" * 3000 + b"]" * 3000,
        _nested(990).encode(),
        b"null",
        b"NaN",
        b'{"title": 1e999}',
        b"x" * 70_000,
    ]
)
CONTENT_TYPES = st.sampled_from(
    ["application/json"] * 3
    + ["application/merge-patch+json", "text/plain", "application/json; charset=utf-8"]
)


def _operations() -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path template, query parameter names, body property names) of each operation."""
    contract = load_contract()
    document = contract.document
    found = []
    for op in contract.operations:
        item = document["paths"][op.path]
        raw = item[op.method.lower()]
        params = [
            _resolve(document, p) for p in [*item.get("parameters", []), *raw.get("parameters", [])]
        ]
        query = [p["name"] for p in params if p["in"] == "query"]
        fields: list[str] = []
        for media in raw.get("requestBody", {}).get("content", {}).values():
            fields += list(_resolve(document, media["schema"]).get("properties", {}))
        found.append((op.method, op.path, query, sorted(set(fields))))
    return found


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


OPERATIONS = _operations()
# Operations whose success is an event stream: its body never ends, so a probe reads its head.
STREAMS = {
    (op.method, op.path)
    for op in load_contract().operations
    for answer in load_contract()
    .document["paths"][op.path][op.method.lower()]["responses"]
    .values()
    if "text/event-stream" in answer.get("content", {})
}


async def _stream_head(api: Api, spec: dict[str, Any]) -> httpx.Response:
    """The answer to a probe of an event stream, once its head is out."""
    async with (
        httpx.AsyncClient(base_url=api.base, timeout=TIMEOUT) as client,
        client.stream(spec.pop("method"), spec.pop("path"), **spec) as response,
    ):
        return response


@pytest.fixture
def others(
    user: User,
    other_user: User,
    make_task: Callable[..., dict[str, Any]],
    sql: psycopg.Connection[Any],
) -> tuple[Callable[[], Any], dict[str, list[str]]]:
    """The second user's rows as a snapshot to compare before and after, and ids to aim at:
    mostly the attacker's own, so requests get past the ownership checks into the handlers."""
    theirs = make_task(other_user, title="Grace's", description="Hers alone", tags=["private"])
    mine = make_task(user, title="Mine")

    def snapshot() -> Any:
        return [
            sql.execute(query, (other_user.id,)).fetchall()
            for query in (
                "SELECT * FROM users WHERE id = %s",
                "SELECT * FROM tasks WHERE user_id = %s ORDER BY id",
                "SELECT * FROM refresh_tokens WHERE user_id = %s ORDER BY id",
                "SELECT * FROM idempotency_keys WHERE user_id = %s ORDER BY key",
            )
        ]

    return snapshot, {
        "user_id": [user.id] * 4 + [user.id.upper(), other_user.id, theirs["id"]],
        "task_id": [mine["id"]] * 4 + [theirs["id"], user.id],
    }


def _path_value(draw: Any, ids: list[str]) -> str:
    """Mostly one of the ids to aim at, else nasty text."""
    if draw(st.integers(0, 9)) < 7:
        return str(draw(st.sampled_from(ids)))
    return quote(draw(st.sampled_from(NASTY_TEXT[:-3]))[:200], safe="")


def _shaped(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A body of about the right shape with nasty content, to get past the schema into the
    handlers and the database; `title`, when the operation has one, is always there."""
    text = st.sampled_from(PLAUSIBLE_TEXT) | st.sampled_from(NASTY_TEXT) | st.text(max_size=40)
    special = {
        "tags": st.lists(st.sampled_from(["home", "Work", "🥛", "_%"]) | text, max_size=22),
        "is_completed": st.booleans(),
        "priority": st.sampled_from(["low", "medium", "high"] * 3 + ["HIGH", "urgent"]),
        "due_date": st.sampled_from(INSTANTS),
    }
    values = {name: special.get(name, text) for name in fields}
    required = {name: values.pop(name) for name in ("title",) if name in values}
    return st.fixed_dictionaries(required, optional=values)


PLAUSIBLE_TEXT = [*SQL_INJECTIONS, "Buy milk 🥛", "Ünïcødé ✓", "t" * 200, "correct-horse-9"]
INSTANTS = [
    None,
    "2025-01-20T17:00:00Z",
    "2025-01-20T17:00:00+05:30",
    "2025-01-20t17:00:00.123456789z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2025-13-01T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "2025-01-20",
]


def _fill(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def _request(draw: Any, user: User, ids: dict[str, list[str]]) -> dict[str, Any]:
    method, template, query_names, fields = draw(st.sampled_from(OPERATIONS))
    path = _fill(template, {slot: _path_value(draw, aims) for slot, aims in ids.items()})
    names = st.sampled_from(query_names) if query_names else st.text(min_size=1, max_size=8)
    query = draw(
        st.lists(
            st.tuples(
                names | st.text(min_size=1, max_size=8),
                st.sampled_from(NASTY_TEXT[:-3]) | st.text(max_size=30),
            ),
            max_size=6,
        )
    )
    # As the attacker, anonymous or with a forged token; never as the victim, whose own
    # requests may of course change their data.
    anonymous: dict[str, str] = {}
    forged = {"Authorization": "Bearer forged"}
    headers = {**draw(st.sampled_from([user.headers] * 4 + [anonymous, forged]))}
    headers["Content-Type"] = draw(CONTENT_TYPES)
    if draw(st.booleans()):
        headers[draw(st.sampled_from(["If-Match", "If-None-Match", "Idempotency-Key"]))] = draw(
            st.sampled_from(['"1"', "*", 'W/"1"', "garbage", "x" * 300, "\u00e9t\u00e9"])
        )
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]  # UTF-8 on the wire
    kind = draw(st.sampled_from(["shaped", "shaped", "fields", "json", "raw", "none"]))
    if kind == "shaped" and fields:
        body = json.dumps(draw(_shaped(fields)))
        content: bytes | None = body.encode()
    elif kind == "fields" and fields:
        body = json.dumps(
            draw(st.dictionaries(st.sampled_from(fields), JSON_VALUES, max_size=len(fields)))
        )
        content = body.encode()
    elif kind == "json":
        content = json.dumps(draw(JSON_VALUES)).encode()
    elif kind == "raw":
        content = draw(RAW_BODIES)
    else:
        content = None
    return {
        "stream": (method, template) in STREAMS,
        "method": method,
        "path": path,
        "params": query,
        "headers": raw_headers,
        "content": content,
    }


@PROBE
@given(data=st.data())
def test_random_requests_to_every_operation_never_fail_or_touch_another_user(
    api: Api, user: User, others: tuple[Callable[[], Any], dict[str, list[str]]], data: Any
) -> None:
    snapshot, ids = others
    before = snapshot()
    spec = _request(data.draw, user, ids)
    if spec.pop("stream"):
        response = api.run(_stream_head(api, spec))
    else:
        response = api.request(timeout=TIMEOUT, **spec)
    event(f"status {response.status_code}")  # pytest --hypothesis-show-statistics
    assert response.status_code < 500, (spec["method"], spec["path"], response.text)
    assert snapshot() == before


def test_every_operation_is_probed() -> None:
    assert len(OPERATIONS) == len(load_contract().operations)


STORABLE_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=60
).map(lambda text: f"«{text}»")  # not blank, and nothing for the title's trimming to remove


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.sampled_from(SQL_INJECTIONS) | STORABLE_TEXT)
def test_sql_injection_text_is_stored_verbatim_and_returned_unchanged(
    api: Api, user: User, text: str
) -> None:
    tag = text.lower() if text.isascii() and len(text) <= 32 else "tag"
    created = api.post(
        f"/api/{user.id}/tasks",
        json={"title": text, "description": text, "tags": [tag]},
        headers=user.headers,
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["title"], task["description"], task["tags"]) == (text, text, [tag])
    url = f"/api/{user.id}/tasks/{task['id']}"
    assert api.get(url, headers=user.headers, timeout=TIMEOUT).json() == task
    found = api.get(
        f"/api/{user.id}/tasks", params={"q": text}, headers=user.headers, timeout=TIMEOUT
    )
    assert task["id"] in {t["id"] for t in found.json()["tasks"]}
    renamed = api.patch("/api/me", json={"name": text[:100]}, headers=user.headers)
    assert renamed.json()["name"] == text[:100]


def test_oversized_body_is_413_and_oversized_headers_are_431(api: Api, user: User) -> None:
    body = api.post(
        f"/api/{user.id}/tasks",
        json={"title": "x", "description": "d" * 100_000},
        headers=user.headers,
        timeout=TIMEOUT,
    )
    assert body.status_code == 413
    header = api.get(
        "/api/me", headers={**user.headers, "X-Padding": "p" * 20_000}, timeout=TIMEOUT
    )
    assert header.status_code == 431
    url = api.get(f"/api/{user.id}/tasks", params={"q": "q" * 20_000}, headers=user.headers)
    assert url.status_code == 431


@pytest.mark.parametrize("depth", [100, 900, 990, 1100, 20_000])
def test_deeply_nested_json_is_a_client_error(api: Api, user: User, depth: int) -> None:
    raw = _nested(depth).encode()
    for media in ("application/json", "application/merge-patch+json"):
        response = api.request(
            "PATCH" if "merge" in media else "POST",
            f"/api/{user.id}/tasks" if "merge" not in media else f"/api/{user.id}/tasks/{user.id}",
            content=raw,
            headers={**user.headers, "Content-Type": media},
            timeout=TIMEOUT,
        )
        assert 400 <= response.status_code < 500, response.text


def test_invalid_utf8_in_headers_is_a_client_error(api: Api, user: User) -> None:
    bearer = (b"Authorization", user.headers["Authorization"].encode())
    response = api.post(
        f"/api/{user.id}/tasks",
        content=b'{"title": "x"}',
        headers=[
            bearer,
            (b"Idempotency-Key", b"\xed\xa0\x80abc"),
            (b"Content-Type", b"application/json"),
        ],
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    for name in (b"If-Match", b"If-None-Match"):
        probe = api.get(
            f"/api/{user.id}/tasks/{user.id}",
            headers=[bearer, (name, b"\xff\xfe")],
            timeout=TIMEOUT,
        )
        assert probe.status_code in (400, 404)


def test_a_hung_client_does_not_hang_the_service(api: Api, user: User) -> None:
    """A body that never finishes arriving cannot hold up anyone else's request."""
    import socket

    with socket.create_connection(("127.0.0.1", api.port), timeout=TIMEOUT) as stalled:
        stalled.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"email": '
        )
        response = api.get("/api/me", headers=user.headers, timeout=TIMEOUT)
        assert response.status_code == 200
