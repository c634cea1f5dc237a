"""Differential test: the compiled fast path accepts exactly what plain openapi-core accepts,
and hands handlers the very values openapi-core would have produced.

For every case, either the plan is unsure (and openapi-core decides, as in production), or
openapi-core must accept the same input and produce equal values, or refuse it with the very
answer the plan gives. Good inputs must take the fast path, or the speed-up would be an
illusion; and so must the common refusals (a number that is none, a parameter missing or
given twice, malformed JSON, a wrong media type), or any client could make the service spend
20 to 30 ms of openapi-core's time on a request that costs it nothing to send.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from openapi_core.testing import MockRequest, MockResponse
from werkzeug.datastructures import Headers

from server.app import load_contract, load_plans
from server.contract.fastpath import Compiler, Unsure
from server.contract.query_names import check_query_names
from server.contract.validation import request_error
from server.errors import ApiError

USER = str(uuid.uuid4())
TASK = str(uuid.uuid4())
LIST = str(uuid.uuid4())
AUTH = {"Authorization": "Bearer x"}
NOW = "2026-11-21T10:00:00Z"

# Inputs the faster engine judges differently from openapi-core, where the plan must not vouch:
#   date-time: jsonschema-rs accepts a leap second (23:59:60); openapi-core refuses it, and
#   the plan is unsure of any date-time that does not parse. In responses the server only
#   writes timestamps from PostgreSQL, which never carry a leap second.
# (email: both use jsonschema-rs's check, server/contract/loading.py.)

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


ACCEPTED, REFUSED, UNSURE = "accepted", "refused", "unsure"  # what the plan did


def compare_request(
    operation_id: str,
    *,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: Any = None,
    raw: bytes | None = None,
    content_type: str | None = "application/json",
    path_params: dict[str, str] | None = None,
) -> str:
    """What the plan did with the request: ACCEPTED it with the values openapi-core produces,
    REFUSED it with the answer openapi-core's errors are worded as (status, detail and errors),
    or was UNSURE (openapi-core decides, as in production). A query parameter of one value
    given twice is the plan's own refusal, before anything else (openapi-core takes the first)."""
    path, method, _ = operation(operation_id)
    params = {"user_id": USER, "task_id": TASK, **(path_params or {})}
    url = path.replace("{user_id}", params["user_id"]).replace("{task_id}", params["task_id"])
    all_headers = [
        *AUTH.items(),
        *(headers.items() if isinstance(headers, dict) else headers or []),
    ]
    data = raw if raw is not None else (None if body is None else orjson.dumps(body))
    if data is not None and content_type is not None:
        all_headers.append(("Content-Type", content_type))
    args: dict[str, list[str]] = {}
    for key, value in query or []:
        args.setdefault(key, []).append(value)
    core = load_contract().openapi.request_unmarshaller.unmarshal(
        MockRequest(
            "http://localhost",
            method,
            url,
            headers=Headers(all_headers),  # type: ignore[arg-type]  # kept as given: repeats too
            args=args,
            data=data,
            content_type=(content_type or "") if data is not None else "application/json",
        )
    )
    present = {k: v for k, v in params.items() if "{" + k + "}" in path}
    try:
        fast: Any = load_plans()[operation_id].read(
            query or [], present, CIMultiDict(all_headers), data, validate=True
        )
    except Unsure:
        return UNSURE
    except ApiError as rejected:  # the plan worded the errors itself: as openapi-core would
        answer: tuple[int, str, list[str]] | None = (
            rejected.status,
            rejected.detail,
            _sorted(rejected.errors),
        )
    else:
        answer = None
    unknown = [k for k in args if k not in queries(operation_id)]
    if unknown:  # refused by the plan first, as validate_request refuses it before openapi-core
        assert answer is not None
        assert (answer[0], answer[2]) == (400, _sorted(_unknown(unknown, operation_id)))
        return REFUSED
    repeated = sorted({k for k, v in args.items() if len(v) > 1} & scalar_queries(operation_id))
    if repeated:
        items = [
            {"loc": ["query", k], "msg": "must be given once", "type": "repeated"} for k in repeated
        ]
        assert answer is not None
        assert (answer[0], answer[2]) == (400, _sorted(items))
        return REFUSED
    if answer is not None:
        assert core.errors, "fast path rejected what openapi-core accepts"
        expected = request_error(list(core.errors))
        assert answer == (expected.status, expected.detail, _sorted(expected.errors))
        return REFUSED
    assert not core.errors, f"fast path accepted what openapi-core rejects: {core.errors}"
    assert fast.body == core.body
    assert fast.query == dict(core.parameters.query)
    assert fast.path == dict(core.parameters.path)
    assert fast.headers == dict(core.parameters.header)
    return ACCEPTED


def _unknown(names: list[str], operation_id: str) -> list[dict[str, Any]]:
    try:
        check_query_names(names, frozenset(queries(operation_id)))
    except ApiError as refused:
        return [dict(error) for error in refused.errors or []]
    raise AssertionError(names)


def queries(operation_id: str) -> set[str]:
    """The query parameters the operation declares."""
    path, _, op = operation(operation_id)
    document = load_contract().document
    declared = [*document["paths"][path].get("parameters", []), *op.get("parameters", [])]
    return {p["name"] for p in map(_resolved, declared) if p["in"] == "query"}


def scalar_queries(operation_id: str) -> set[str]:
    """The query parameters of the operation that take one value (their schema is no array)."""
    path, _, op = operation(operation_id)
    document = load_contract().document
    declared = [*document["paths"][path].get("parameters", []), *op.get("parameters", [])]
    found = set()
    for param in map(_resolved, declared):
        if param["in"] == "query" and _resolved(param["schema"]).get("type") != "array":
            found.add(param["name"])
    return found


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = load_contract().document["components"][kind][name]
    return node


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
        assert compare_request(operation_id, body=body) == ACCEPTED, body


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


# Bodies no JSON reader takes, for the two readers of openapi-core (loading.py): the standard
# library's for application/json, orjson's for merge-patch.
MALFORMED_JSON = [
    b"{",
    b'{"a":1}{}',
    b" ",
    b"\xff\xfe",
    b'{"title": "\xff"}',
    b'{"title": "x",}',
    b"[" * 65 + b"]" * 65,  # past MAX_JSON_DEPTH
    b"[" * 2000 + b"]" * 2000,  # past either reader's own limit
    b'{"title": "x"}' + b" " * 100 + b"x",
]
# Bodies only openapi-core's own reader of application/json takes: it decides them whole.
ONLY_THE_STANDARD_READER_TAKES = [
    b'{"title": NaN}',
    b'{"title": "\\ud800"}',
    '{"title": "x"}'.encode("utf-16"),
    b"\xef\xbb\xbf" + b'{"title": "x"}',
]


@pytest.mark.parametrize("raw", MALFORMED_JSON)
def test_malformed_json_is_refused_by_the_plan(raw: bytes) -> None:
    """A 400 at ["body"] decided in microseconds, worded as openapi-core's, for either reader."""
    assert compare_request("create_task", raw=raw) == REFUSED
    merge_patch = "application/merge-patch+json"
    assert compare_request("update_task", raw=raw, content_type=merge_patch) == REFUSED


@pytest.mark.parametrize(
    "raw", [b"[]", b"null", b"1", b'"x"', b"{}", b'{"title": "x", "priority": 1' + b"0" * 40 + b"}"]
)
def test_json_of_the_wrong_shape_is_refused_by_the_plan(raw: bytes) -> None:
    assert compare_request("create_task", raw=raw) == REFUSED


@pytest.mark.parametrize("raw", ONLY_THE_STANDARD_READER_TAKES)
def test_bodies_orjson_refuses_but_openapi_core_reads_are_left_to_it(raw: bytes) -> None:
    assert compare_request("create_task", raw=raw) == UNSURE


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/jsonx", "", None]
)
def test_foreign_media_types_are_refused_by_the_plan(content_type: str | None) -> None:
    """415 naming the media types the operation takes, before any parameter's error."""
    body = {"title": "x"}
    assert compare_request("create_task", body=body, content_type=content_type) == REFUSED
    bad_key = {"Idempotency-Key": " "}
    verdict = compare_request("create_task", body=body, content_type=content_type, headers=bad_key)
    assert verdict == REFUSED


@pytest.mark.parametrize("operation_id", ["create_task", "update_task", "move_task", "signup"])
def test_a_missing_body_is_refused_by_the_plan(operation_id: str) -> None:
    """422 at ["body"] whatever the media type (openapi-core looks at none without a body);
    a parameter's error comes first."""
    assert compare_request(operation_id, raw=b"") == REFUSED
    assert compare_request(operation_id, raw=b"", content_type="text/plain") == REFUSED
    assert compare_request("create_task", raw=b"", headers={"Idempotency-Key": ""}) == REFUSED


def test_a_parameters_error_comes_before_the_bodys() -> None:
    """Whatever the body holds, even one the plan would leave to openapi-core."""
    for raw in (b"{", b"[]", b'{"title": NaN}', b"", b"[" * 2000):
        verdict = compare_request("create_task", raw=raw, headers={"Idempotency-Key": "a b"})
        assert verdict == REFUSED


def test_media_type_parameters_are_accepted() -> None:
    verdict = compare_request(
        "update_task",
        body={"title": "x"},
        content_type="application/merge-patch+json; charset=utf-8",
    )
    assert verdict == ACCEPTED


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
    assert compare_request("signup", body=body) != UNSURE


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
    """Whatever sends a request to openapi-core (a format the plan will not vouch for),
    `limit=1_0` stays a 400 at limit rather than int()'s 10."""
    query = [("limit", value), ("due_before", "2026-11-21T23:59:60Z")]
    assert compare_request("list_tasks", query=query) == UNSURE
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


NOT_NUMBERS = ["abc", "1_0", "\u0661\u0660", " 10", "10 ", "+10", "\uff11", "1.5", "1e3", "", "-"]
INTEGER_QUERIES = [
    ("list_tasks", "limit"),
    ("list_tasks", "offset"),
    ("list_trash", "limit"),
    ("list_trash", "offset"),
    ("list_changes", "limit"),
]


@pytest.mark.parametrize("value", NOT_NUMBERS)
@pytest.mark.parametrize(("operation_id", "name"), INTEGER_QUERIES)
def test_an_integer_parameter_that_is_no_number_is_refused_by_the_plan(
    operation_id: str, name: str, value: str
) -> None:
    """`limit=abc` is a 400 at limit decided in microseconds: openapi-core took 20 to 30 ms of
    the event loop to say so, walking every parameter of list_tasks."""
    assert compare_request(operation_id, query=[(name, value)]) == REFUSED


WINDOW = [("from", "2026-11-01T00:00:00Z"), ("to", "2026-11-08T00:00:00Z")]


@pytest.mark.parametrize(
    "query",
    [
        [],
        WINDOW[:1],
        WINDOW[1:],
        [("limit", "x")],
        [WINDOW[0], ("limit", "0")],
        [("from", ""), ("to", "")],
        [("from", "yesterday"), ("limit", "abc"), ("cursor", "")],
    ],
)
def test_missing_required_parameters_are_refused_by_the_plan(query: list[tuple[str, str]]) -> None:
    """Every parameter's error at once, as openapi-core lists them."""
    assert compare_request("list_reminders", query=query) == REFUSED


@pytest.mark.parametrize("name", ["status", "priority", "q", "cursor", "sort", "order", "list_id"])
def test_an_empty_query_value_is_refused_by_the_plan(name: str) -> None:
    assert compare_request("list_tasks", query=[(name, "")]) == REFUSED


def test_an_empty_tag_is_judged_by_its_schema_as_openapi_core_does() -> None:
    assert compare_request("list_tasks", query=[("tag", ""), ("tag", "home")]) == REFUSED


@pytest.mark.parametrize(
    "query",
    [
        [("limit", "5"), ("limit", "6")],
        [("limit", "5"), ("limit", "5")],
        [("status", "pending"), ("q", "a"), ("status", "done")],
        [("q", "a"), ("q", "b"), ("sort", "due_date"), ("sort", "title")],
        # the repeat is refused even where openapi-core would decide the rest
        [("limit", "5"), ("limit", "6"), ("due_before", "2026-11-21T23:59:60Z")],
        [("limit", "abc"), ("limit", "6")],
    ],
)
def test_a_query_parameter_of_one_value_given_twice_is_a_400_naming_it(
    query: list[tuple[str, str]],
) -> None:
    """openapi-core takes the first and answers 200: a client that sent both meant one of
    them, and which one is not for the server to guess (contract 1.10.0)."""
    assert compare_request("list_tasks", query=query) == REFUSED


@pytest.mark.parametrize(
    "query",
    [
        [("statuss", "completed")],
        [("Status", "pending"), ("limit", "5"), ("limit", "6")],
        [("x", "1"), ("due_before", "2026-11-21T23:59:60Z")],  # openapi-core would decide
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_it(query: list[tuple[str, str]]) -> None:
    """openapi-core ignores it and answers 200 (contract 1.11.0: a 400)."""
    assert compare_request("list_tasks", query=query) == REFUSED


def test_a_repeatable_query_parameter_may_be_given_twice() -> None:
    assert compare_request("list_tasks", query=[("tag", "home"), ("tag", "work")]) == ACCEPTED


def test_a_header_given_twice_is_read_as_openapi_core_reads_it() -> None:
    """The first of them (as every handler's own reading of its headers)."""
    twice = [("If-Match", '"3"'), ("If-Match", '"4"')]
    assert compare_request("update_task", body={"title": "x"}, headers=twice) == ACCEPTED
    keys = [("Idempotency-Key", "a"), ("Idempotency-Key", " ")]
    assert compare_request("create_task", body={"title": "x"}, headers=keys) == ACCEPTED
    keys.reverse()
    assert compare_request("create_task", body={"title": "x"}, headers=keys) == REFUSED


# Bytes that are not UTF-8 in a query or a header reach the service as lone surrogates.
NOT_UTF8 = ["\udcff", "x\udcfe", "\udcff" * 40, "pending\udcff", "\udced\udca0\udc80"]


@pytest.mark.parametrize("value", NOT_UTF8)
def test_parameters_that_are_not_utf8_are_judged_by_the_plan(value: str) -> None:
    """Each parameter of each kind (enum, pattern, format, length, integer, free text): the
    same verdict as openapi-core's, without it."""
    for name in sorted(scalar_queries("list_tasks") | {"tag"}):
        assert compare_request("list_tasks", query=[(name, value)]) != UNSURE, name
    for name, operation_id in [
        ("If-Match", "delete_task"),
        ("If-None-Match", "get_task"),
        ("Idempotency-Key", "batch_tasks"),
        ("Last-Event-ID", "stream_events"),
    ]:
        verdict = compare_request(operation_id, headers={name: value}, body=_body(operation_id))
        assert verdict != UNSURE, name
    assert compare_request("get_task", path_params={"task_id": value}) == REFUSED


def _body(operation_id: str) -> Any:
    return (
        {"operations": [{"op": "create", "body": {"title": "x"}}]}
        if "batch" in operation_id
        else None
    )


def test_parameter_errors_come_in_openapi_cores_order() -> None:
    """The operation's parameters, then its path's: the answer's `errors` in that order."""
    query = [("limit", "abc"), ("status", "x"), ("q", ""), ("offset", "-1")]
    plan = load_plans()["list_tasks"]
    headers = CIMultiDict(AUTH)
    with pytest.raises(ApiError) as refused:
        plan.read(query, {"user_id": "not-a-uuid"}, headers, None, validate=True)
    core = load_contract().openapi.request_unmarshaller.unmarshal(
        MockRequest(
            "http://localhost",
            "get",
            "/api/not-a-uuid/tasks",
            headers=AUTH,
            args={k: [v] for k, v in query},
        )
    )
    assert refused.value.errors == request_error(list(core.errors)).errors


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
        "due_on": None,
        "recurrence": None,
        "reminders": [],
        "last_completed_at": None,
        "deleted_at": None,
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
    {k: v for k, v in task().items() if k != "deleted_at"},  # always sent since 1.11.0
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


def test_a_412_without_the_current_etag_is_left_to_openapi_core() -> None:
    problem = {
        "type": "urn:todo-api:problem:precondition-failed",
        "title": "Precondition Failed",
        "status": 412,
        "detail": "stale",
        "instance": "/x",
        "request_id": "abc",
    }
    kind = "application/problem+json"
    assert compare_response("update_task", 412, problem, {"ETag": '"4"'}, content_type=kind)
    assert not compare_response("update_task", 412, problem, content_type=kind)


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


DUE_DATES = st.sampled_from(
    [
        None,
        "2026-12-07T10:00:00Z",
        "2026-12-07",
        "0001-01-01T00:00:00+14:00",
        5,
    ]
)
DUE_ONS = st.sampled_from(
    [None, "2026-12-07", "9999-12-31", "2026-02-30", "2026-12-07T10:00:00Z", 0]
)
REMINDERS: st.SearchStrategy[list[Any]] = st.lists(
    st.dictionaries(
        st.sampled_from(["at", "before_due", "x"]),
        st.sampled_from([None, "2026-12-07T08:00:00Z", "2026-12-07", "PT15M", "-PT1M", 1, {}]),
        max_size=3,
    )
    | st.sampled_from([None, "PT15M", []]),
    max_size=3,
)
ABSENT = object()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["create_task", "replace_task", "update_task"]),
    st.one_of(st.just(ABSENT), DUE_DATES),
    st.one_of(st.just(ABSENT), DUE_ONS),
    st.one_of(st.just(ABSENT), REMINDERS),
)
def test_dues_and_reminders_agree_with_openapi_core(
    operation_id: str, due_date: Any, due_on: Any, reminders: Any
) -> None:
    """The `not` of both dues, a date alone in due_date and a reminder's oneOf (1.11.0): the
    plan answers as the openapi-core path words them, status, location and message."""
    body = {"title": "T"} if operation_id != "update_task" else {}
    for name, value in (("due_date", due_date), ("due_on", due_on), ("reminders", reminders)):
        if value is not ABSENT:
            body[name] = value
    compare_request(operation_id, body=body)
