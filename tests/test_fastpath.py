"""Differential test: the compiled fast path accepts exactly what plain openapi-core accepts,
and hands handlers the very values openapi-core would have produced.

For every case, either the plan is unsure (and openapi-core decides, as in production), or
openapi-core must accept the same input and produce equal values. Good inputs must take the
fast path, or the speed-up would be an illusion. Formats the faster engine judges more
strictly are listed in STRICTER_FORMATS: there the fast path is unsure and openapi-core
decides, so clients see no difference.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict
from openapi_core.testing import MockRequest, MockResponse

from server.app import load_contract, load_plans
from server.contract.fastpath import Compiler, Unsure
from server.contract.validation import request_error
from server.errors import ApiError

USER = str(uuid.uuid4())
TASK = str(uuid.uuid4())
LIST = str(uuid.uuid4())
AUTH = {"Authorization": "Bearer x"}
NOW = "2026-11-21T10:00:00Z"

# Inputs the faster engine judges differently from openapi-core. Where it is stricter the
# plan is unsure and openapi-core's verdict stands (a slower check, nothing else):
#   email: non-ASCII addresses (jsonschema-rs wants ASCII; openapi-core only wants one "@").
# Where it is more lenient the plan must not vouch:
#   date-time: jsonschema-rs accepts a leap second (23:59:60); openapi-core refuses it, and
#   the plan is unsure of any date-time that does not parse. In responses the server only
#   writes timestamps from PostgreSQL, which never carry a leap second.
STRICTER_FORMATS = {("email", "ä@ö.de")}

DATE_TIMES = [
    NOW,
    "2026-11-21T10:00:00.123456Z",
    "2026-11-21T10:00:00+05:30",
    "2026-11-21t10:00:00z",
    "2026-11-21 10:00:00Z",
    "2026-11-21T10:00:00",
    "2026-13-01T00:00:00Z",
    "2026-11-21T24:00:00Z",
    "2026-11-21T23:59:60Z",
    "21/11/2026",
    "",
]
UUIDS = [
    TASK,
    TASK.upper(),
    TASK.replace("-", ""),
    "{" + TASK + "}",
    "urn:uuid:" + TASK,
    TASK[:-1] + "g",
    "not-a-uuid",
]
EMAILS = ["ada@example.org", "a@b", "@", "a b@c.d", "ä@ö.de", "x" * 250 + "@e.io", "plain"]
STRINGS = ["", " ", "x", "x" * 33, "x" * 201, "x" * 2001, "🎉", "\x00", "'; DROP TABLE tasks;--"]


def operation(operation_id: str) -> tuple[str, str, dict[str, Any]]:
    contract = load_contract()
    op = next(op for op in contract.operations if op.operation_id == operation_id)
    method = op.method.lower()
    return op.path, method, contract.document["paths"][op.path][method]


def concrete(path: str) -> str:
    return path.replace("{user_id}", USER).replace("{task_id}", TASK)


def compare_request(
    operation_id: str,
    *,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
    path_params: dict[str, str] | None = None,
) -> bool:
    """True when the fast path took the request (and agreed with openapi-core)."""
    path, method, _ = operation(operation_id)
    params = {"user_id": USER, "task_id": TASK, **(path_params or {})}
    url = path.replace("{user_id}", params["user_id"]).replace("{task_id}", params["task_id"])
    all_headers = {**AUTH, **(headers or {})}
    data = raw if raw is not None else (None if body is None else orjson.dumps(body))
    if data is not None:
        all_headers["Content-Type"] = content_type
    args: dict[str, list[str]] = {}
    for key, value in query or []:
        args.setdefault(key, []).append(value)
    core = load_contract().openapi.request_unmarshaller.unmarshal(
        MockRequest(
            "http://localhost",
            method,
            url,
            headers=all_headers,
            args=args,
            data=data,
            content_type=content_type if data is not None else "application/json",
        )
    )
    present = {k: v for k, v in params.items() if "{" + k + "}" in path}
    try:
        fast: Any = load_plans()[operation_id].read(
            query or [], present, CIMultiDict(all_headers), data, validate=True
        )
    except Unsure:
        return False
    except ApiError as rejected:  # the plan worded the errors itself: as openapi-core would
        answer: tuple[int, list[str]] | None = (rejected.status, _sorted(rejected.errors))
    else:
        answer = None
    if answer is not None:
        assert core.errors, "fast path rejected what openapi-core accepts"
        expected = request_error(list(core.errors))
        assert answer == (expected.status, _sorted(expected.errors))
        return False
    assert not core.errors, f"fast path accepted what openapi-core rejects: {core.errors}"
    assert fast.body == core.body
    assert fast.query == dict(core.parameters.query)
    assert fast.path == dict(core.parameters.path)
    assert fast.headers == dict(core.parameters.header)
    return True


def _sorted(errors: Sequence[Mapping[str, Any]] | None) -> list[str]:
    return sorted(orjson.dumps(e, option=orjson.OPT_SORT_KEYS).decode() for e in errors or [])


def examples(operation_id: str) -> Iterator[Any]:
    _, _, op = operation(operation_id)
    document = load_contract().document
    for media in op.get("requestBody", {}).get("content", {}).values():
        for example in media.get("examples", {}).values():
            if "$ref" in example:
                name = example["$ref"].rsplit("/", 1)[-1]
                example = document["components"]["examples"][name]
            yield example["value"]


BODY_OPERATIONS = [
    "signup",
    "login",
    "refresh",
    "logout",
    "update_me",
    "change_password",
    "delete_me",
    "create_task",
    "replace_task",
    "update_task",
    "complete_task",
]


@pytest.mark.parametrize("operation_id", BODY_OPERATIONS)
def test_contract_examples_take_the_fast_path(operation_id: str) -> None:
    bodies = list(examples(operation_id))
    assert bodies, f"{operation_id} has no request example"
    for body in bodies:
        assert compare_request(operation_id, body=body), body


def mutations(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in body:
        values: tuple[Any, ...] = (None, 12345, True, [], {}, "x" * 5000, "", *STRINGS[:3])
        for value in values:
            changed = copy.deepcopy(body)
            changed[key] = value
            yield changed
        dropped = copy.deepcopy(body)
        del dropped[key]
        yield dropped
    yield {**body, "unexpected": 1}
    yield {}


@pytest.mark.slow
@pytest.mark.parametrize("operation_id", BODY_OPERATIONS)
def test_mutated_bodies_agree_with_openapi_core(operation_id: str) -> None:
    for body in examples(operation_id):
        for mutant in mutations(body):
            compare_request(operation_id, body=mutant)


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b"null", b"1", b'"x"', b'{"title": NaN}', b"\xff\xfe", b'{"a":1}{}', b" "],
)
def test_malformed_bodies_are_left_to_openapi_core(raw: bytes) -> None:
    assert not compare_request("create_task", raw=raw)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/jsonx"])
def test_foreign_media_types_are_left_to_openapi_core(content_type: str) -> None:
    assert not compare_request("create_task", body={"title": "x"}, content_type=content_type)


def test_media_type_parameters_are_accepted() -> None:
    assert compare_request(
        "update_task",
        body={"title": "x"},
        content_type="application/merge-patch+json; charset=utf-8",
    )


@pytest.mark.parametrize("value", DATE_TIMES)
def test_date_time_formats_agree(value: str) -> None:
    compare_request("create_task", body={"title": "x", "due_date": value})
    compare_request("list_tasks", query=[("due_before", value)])


@pytest.mark.parametrize(
    "text",
    [
        " \t" + "t" * 200 + "\u3000\n",
        "t" * 201,
        " " + "t" * 201 + " ",
        "a" + " " * 198 + "b",
        "a" + " " * 199 + "b",
        "\u3000 \x85",
        "\ufeff",
    ],
)
def test_lengths_after_trimming_agree(text: str) -> None:
    """Both engines read the trimmed-text pattern alike, and word its failure alike."""
    compare_request("create_task", body={"title": text, "tags": [text[:40]]})
    compare_request("update_me", body={"name": text[:110]})


@pytest.mark.parametrize("value", UUIDS)
def test_uuid_formats_agree(value: str) -> None:
    compare_request("get_task", path_params={"task_id": value})


@pytest.mark.parametrize("value", EMAILS)
def test_email_formats_agree(value: str) -> None:
    body = {"email": value, "password": "correct horse battery", "name": "Ada"}
    took = compare_request("signup", body=body)
    if ("email", value) in STRICTER_FORMATS:
        assert not took


QUERIES: list[list[tuple[str, str]]] = [
    [],
    [("limit", "20")],
    [("limit", "0")],
    [("limit", "101")],
    [("limit", "abc")],
    [("limit", "1.5")],
    [("limit", "")],
    [("limit", "5"), ("limit", "7")],
    [("limit", "1_0")],
    [("limit", "\u0661\u0660")],
    [("limit", " 10")],
    [("limit", "+10")],
    [("offset", "9000")],
    [("offset", "-1")],
    [("status", "pending"), ("priority", "high")],
    [("status", "nope")],
    [("tag", "home"), ("tag", "work")],
    [("tag", "x" * 33)],
    [("tag", "")],
    [("q", "milk")],
    [("q", "x" * 201)],
    [("sort", "due_date"), ("order", "asc")],
    [("sort", "rank")],
    [("cursor", "abc")],
    [("unknown", "1")],
]


@pytest.mark.parametrize("query", QUERIES)
def test_list_queries_agree(query: list[tuple[str, str]]) -> None:
    compare_request("list_tasks", query=query)


@pytest.mark.parametrize("value", ["1_0", "\u0661\u0660", " 10", "10 ", "+10", "\uff11"])
def test_openapi_core_reads_an_integer_as_ascii_digits_too(value: str) -> None:
    """Whatever sends a request to openapi-core (a duplicated header, a format the plan will
    not vouch for), `limit=1_0` stays a 400 at limit rather than int()'s 10."""
    query = [("limit", value), ("due_before", "2026-11-21T23:59:60Z")]
    assert not compare_request("list_tasks", query=query)
    core = load_contract().openapi.request_unmarshaller.unmarshal(
        MockRequest(
            "http://localhost",
            "get",
            concrete("/api/{user_id}/tasks"),
            headers=AUTH,
            args={"limit": [value]},
        )
    )
    error = request_error(list(core.errors))
    assert (error.status, [e["loc"] for e in error.errors or []]) == (400, [["query", "limit"]])


@pytest.mark.parametrize(
    "headers",
    [{}, {"If-Match": '"3"'}, {"If-Match": "*"}, {"If-Match": ""}, {"if-match": 'W/"1"'}],
)
def test_header_parameters_agree(headers: dict[str, str]) -> None:
    compare_request("update_task", body={"title": "x"}, headers=headers)


def task(**changes: Any) -> dict[str, Any]:
    body = {
        "id": TASK,
        "user_id": USER,
        "title": "Buy milk",
        "description": None,
        "is_completed": False,
        "completed_at": None,
        "priority": "medium",
        "due_date": None,
        "tags": ["home"],
        "list_id": LIST,
        "parent_id": None,
        "position": "b1V",
        "created_at": NOW,
        "updated_at": NOW,
        "version": 1,
    }
    return {**body, **changes}


def compare_response(
    operation_id: str,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bool:
    path, method, _ = operation(operation_id)
    data = None if body is None else orjson.dumps(body)
    request = MockRequest("http://localhost", method, concrete(path), headers=AUTH)
    response = MockResponse(
        data or b"", status_code=status, headers=headers or {}, content_type=content_type
    )
    core_errors = list(load_contract().openapi.response_validator.iter_errors(request, response))
    try:
        load_plans()[operation_id].check_response(status, headers or {}, content_type, data)
    except Unsure:
        return False
    assert not core_errors, f"fast path accepted a response openapi-core rejects: {core_errors}"
    return True


ETAG = {"ETag": '"1"'}
TASK_RESPONSES = [
    task(),
    task(is_completed=True, completed_at=NOW),
    task(description="🎉 " * 100, due_date="2026-12-01T09:00:00.5+02:00"),
    task(tags=[]),
]
BROKEN_TASKS = [
    task(password_hash="x"),
    task(version=0),
    task(priority="urgent"),
    task(title=""),
    task(id="nope"),
    task(created_at="yesterday"),
    task(tags=["a", "a"]),
    {k: v for k, v in task().items() if k != "version"},
]


@pytest.mark.parametrize("body", TASK_RESPONSES)
def test_valid_task_responses_take_the_fast_path(body: dict[str, Any]) -> None:
    assert compare_response("get_task", 200, body, ETAG)


@pytest.mark.parametrize("body", BROKEN_TASKS)
def test_broken_task_responses_are_left_to_openapi_core(body: dict[str, Any]) -> None:
    assert not compare_response("get_task", 200, body, ETAG)


def test_missing_required_response_header_is_left_to_openapi_core() -> None:
    assert not compare_response("get_task", 200, task())
    assert not compare_response("create_task", 201, task(), ETAG)


def test_undeclared_status_is_left_to_openapi_core() -> None:
    assert not compare_response("get_task", 418, task(), ETAG)


PAGE_ETAG = 'W/"5f1c0e7a9d2b4c6e8a1f"'  # the pages carry a weak ETag since 1.6.0


def test_list_page_and_problem_responses_agree() -> None:
    page = {
        "tasks": [task() for _ in range(50)],
        "total": 50,
        "limit": 50,
        "offset": 0,
        "next_cursor": None,
    }
    assert compare_response("list_tasks", 200, page, {"ETag": PAGE_ETAG})
    assert not compare_response("list_tasks", 200, {**page, "offset": -1}, {"ETag": PAGE_ETAG})
    problem = {
        "type": "urn:todo-api:problem:not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "No such task.",
        "instance": "/x",
        "request_id": "abc",
    }
    assert compare_response("get_task", 404, problem, content_type="application/problem+json")
    assert not compare_response(
        "get_task", 404, {**problem, "trace": "..."}, content_type="application/problem+json"
    )
    assert compare_response("delete_task", 204, None)
    assert compare_response(
        "login",
        429,
        {**problem, "status": 429},
        {"Retry-After": "30"},
        content_type="application/problem+json",
    )
    assert not compare_response(
        "login",
        429,
        {**problem, "status": 429},
        {"Retry-After": "soon"},
        content_type="application/problem+json",
    )


def test_references_under_any_property_name_reach_the_shared_components() -> None:
    """A property may be named like a keyword whose value is data ("default", "enum"): its
    schema's reference still resolves in the components every plan shares, and a reference-
    shaped value inside data ("example") stays data."""
    compiler = Compiler(load_contract().document)
    validator = compiler.validator(
        {
            "type": "object",
            "properties": {
                "default": {"$ref": "#/components/schemas/Priority"},
                "enum": {"items": {"$ref": "#/components/schemas/Priority"}},
            },
            "example": {"$ref": "#/not/a/reference"},
        }
    )
    assert validator.is_valid({"default": "high", "enum": ["low"]})
    assert not validator.is_valid({"default": "urgent"})
    assert not validator.is_valid({"enum": ["urgent"]})
