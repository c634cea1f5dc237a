"""A query parameter the operation does not declare is a 400 naming it (contract 1.11.0), by
the compiled plan and by the openapi-core path alike: `?statuss=completed` used to be ignored
and answer every task."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from multidict import CIMultiDict
from openapi_core.testing import MockRequest

from server.app import load_contract, load_plans
from server.contract.validation import validate_request
from server.errors import ApiError
from tests.support import Api, User

LIST_TASKS_TAKES = (
    "it takes only: assignee, cursor, due_after, due_before, limit, list_id, offset, order,"
    " parent_id, priority, q, sort, status, tag"
)


def _refusal(response: Any) -> tuple[str, list[dict[str, Any]]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "urn:todo-api:problem:bad-request"
    return body["detail"], body["errors"]


def test_a_misspelled_filter_is_a_400_naming_it_and_the_one_meant(api: Api, user: User) -> None:
    api.post(f"/api/{user.id}/tasks", json={"title": "Open"}, headers=user.headers)
    response = api.get(f"/api/{user.id}/tasks?statuss=completed", headers=user.headers)
    detail, errors = _refusal(response)
    assert detail == f"Unknown query parameter 'statuss': {LIST_TASKS_TAKES}."
    assert errors == [
        {
            "loc": ["query", "statuss"],
            "msg": "is not a query parameter of this operation; did you mean 'status'?",
            "type": "extra_forbidden",
        }
    ]


def test_on_stats_too(api: Api, user: User) -> None:
    """The operation a conformance fuzzer flagged."""
    detail, errors = _refusal(api.get(f"/api/{user.id}/stats?x=1", headers=user.headers))
    assert detail == "Unknown query parameter 'x': it takes only: list_id."
    assert errors == [
        {
            "loc": ["query", "x"],
            "msg": "is not a query parameter of this operation",
            "type": "extra_forbidden",
        }
    ]


def test_an_operation_without_query_parameters_says_it_takes_none(api: Api, user: User) -> None:
    response = api.post(f"/api/{user.id}/tasks?draft=1", json={"title": "x"}, headers=user.headers)
    detail, _ = _refusal(response)
    assert detail == "Unknown query parameter 'draft': it takes none."
    assert api.get(f"/api/{user.id}/tasks", headers=user.headers).json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "names", "meant"),
    [
        # several at once: each named, in the order sent
        ("b=1&status=all&a=2", ["b", "a"], [None, None]),
        # an unknown one repeated is named once
        ("x=1&x=2", ["x"], [None]),
        # a name that differs only by case is another name; the one meant is suggested
        ("Status=completed", ["Status"], ["status"]),
        ("LIMIT=5", ["LIMIT"], ["limit"]),
        # Unicode: a name that grows when case-folded, one in another script, an empty one
        ("%C5%BFtatus=all", ["\u017ftatus"], ["status"]),  # long s folds to s
        ("%C3%9F=1", ["ß"], [None]),  # ß folds to ss
        ("%D1%81%D1%82%D0%B0%D1%82%D1%83%D1%81=1", ["статус"], [None]),
        ("=1", [""], [None]),
        # bytes that are not UTF-8 are named with U+FFFD in their place
        ("st%FFtus=1", ["st\ufffdtus"], ["status"]),
        # a typo of a repeatable one
        ("tags=home", ["tags"], ["tag"]),
    ],
)
def test_every_unknown_name_is_named(
    api: Api, user: User, query: str, names: list[str], meant: list[str | None]
) -> None:
    detail, errors = _refusal(api.get(f"/api/{user.id}/tasks?{query}", headers=user.headers))
    assert [e["loc"] for e in errors] == [["query", name] for name in names]
    assert [e["msg"].partition("; did you mean ")[2].strip("'?") or None for e in errors] == meant
    listed = ", ".join(f"'{name}'" for name in names)
    assert (
        detail
        == f"Unknown query parameter{'s' if len(names) > 1 else ''} {listed}: {LIST_TASKS_TAKES}."
    )


def test_an_unknown_name_comes_before_a_repeated_or_invalid_one(api: Api, user: User) -> None:
    response = api.get(f"/api/{user.id}/tasks?limit=5&limit=abc&sta=1", headers=user.headers)
    _, errors = _refusal(response)
    assert [e["loc"] for e in errors] == [["query", "sta"]]


def test_many_unknown_names_are_named_up_to_ten(api: Api, user: User) -> None:
    query = "&".join(f"p{i}=1" for i in range(500))
    detail, errors = _refusal(api.get(f"/api/{user.id}/tasks?{query}", headers=user.headers))
    assert [e["loc"][1] for e in errors] == [f"p{i}" for i in range(10)]
    assert detail.startswith("Unknown query parameters 'p0', 'p1', ")
    assert "'p9' and 490 more: it takes only: assignee, cursor," in detail


def test_a_long_name_is_named_without_a_suggestion(api: Api, user: User) -> None:
    name = "status" * 500
    _, errors = _refusal(api.get(f"/api/{user.id}/tasks?{name}=1", headers=user.headers))
    assert errors == [
        {
            "loc": ["query", name],
            "msg": "is not a query parameter of this operation",
            "type": "extra_forbidden",
        }
    ]


def test_declared_parameters_still_answer(api: Api, user: User) -> None:
    response = api.get(f"/api/{user.id}/tasks?status=all&tag=a&tag=b&limit=5", headers=user.headers)
    assert response.status_code == 200, response.text


def _openapi_core_path(path: str, query: dict[str, list[str]]) -> ApiError:
    contract = load_contract()
    operation = next(op for op in contract.operations if op.operation_id == "list_tasks")
    request: Any = MockRequest("http://localhost", "get", path, args=query)
    request.operation = operation  # what SanicOpenAPIRequest carries
    with pytest.raises(ApiError) as refused:
        validate_request(contract, request)
    return refused.value


def test_the_openapi_core_path_answers_as_the_plan_does() -> None:
    """openapi-core itself ignores an unknown query parameter: validate_request asks first."""
    user_id = str(uuid.uuid4())
    path = f"/api/{user_id}/tasks"
    query = {"statuss": ["completed"], "Limit": ["1"], "status": ["all"]}
    by_core = _openapi_core_path(path, query)
    with pytest.raises(ApiError) as by_plan:
        load_plans()["list_tasks"].read(
            [(k, v) for k, values in query.items() for v in values],
            {"user_id": user_id},
            CIMultiDict(),
            None,
            validate=True,
        )
    assert (by_core.status, by_core.detail, by_core.errors) == (
        by_plan.value.status,
        by_plan.value.detail,
        by_plan.value.errors,
    )
    assert [e["loc"] for e in by_core.errors or []] == [["query", "statuss"], ["query", "Limit"]]


def test_every_operation_declares_the_400_it_now_answers() -> None:
    """Any request may carry an unknown query parameter, so every operation can answer 400; one
    that does not declare it turns the 400 into a 500 (response validation)."""
    contract = load_contract()
    undeclared = [
        f"{method.upper()} {path}"
        for path, item in contract.document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op and "400" not in op["responses"]
    ]
    assert undeclared == []


def test_an_operation_without_query_parameters_refuses_an_unknown_one_with_a_400(
    api: Api, user: User
) -> None:
    """A stray name on the account (it was a 500)."""
    detail, _ = _refusal(api.get("/api/me?_=1700000000000", headers=user.headers))
    assert detail == "Unknown query parameter '_': it takes none."


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/health", 200),
        ("/ready", 200),
        ("/docs", 200),
        ("/redoc", 301),
        ("/openapi.yaml", 200),
        ("/openapi.json", 200),
    ],
)
def test_a_document_or_probe_ignores_a_query_string(api: Api, path: str, status: int) -> None:
    """A docs link shared with `?utm_source=`, a health checker's cache buster (contract
    1.22.0): the page or the probe, the same as without the query, never a 400."""
    plain = api.get(path, follow_redirects=False)
    tagged = api.get(f"{path}?utm_source=newsletter&_=1700000000000", follow_redirects=False)
    assert (plain.status_code, tagged.status_code) == (status, status)
    assert tagged.headers["content-type"] == plain.headers["content-type"]
    if status == 200 and path != "/ready":
        assert tagged.content == plain.content


def test_only_documents_and_probes_are_open_to_any_query() -> None:
    """`x-open-query` is for pages and probes that take no parameters and no token: an API
    operation keeps refusing a name it does not declare (a typo of a filter)."""
    contract = load_contract()
    open_ops = [op for op in contract.operations if op.open_query]
    assert {op.operation_id for op in open_ops} == {
        "docs",
        "redoc",
        "openapi_yaml",
        "openapi_json",
        "health",
        "ready",
    }
    for op in open_ops:
        assert (op.secured, op.query_names, op.path.startswith("/api/")) == (
            False,
            frozenset(),
            False,
        ), op.operation_id
