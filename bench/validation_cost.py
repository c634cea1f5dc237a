"""What openapi-core costs per request, measured apart from HTTP and the database.

    .venv/bin/python bench/validation_cost.py

Times request validation (unmarshal, as the pipeline does) and response validation for
GET one task and GET a 50-task list, on the real openapi.yaml with the server's own config:
plain openapi-core, and the compiled plan of server/contract/fastpath.py that serves the same
verdicts.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from multidict import CIMultiDict
from openapi_core.testing import MockRequest, MockResponse

from server.app import load_contract, load_plans

USER = str(uuid.uuid4())
LIST = str(uuid.uuid4())


def task(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "user_id": USER,
        "title": f"Task number {i}",
        "description": "Something worth doing, described in a sentence or two." if i % 2 else None,
        "is_completed": i % 3 == 0,
        "completed_at": "2026-11-20T10:00:00Z" if i % 3 == 0 else None,
        "priority": ("low", "medium", "high")[i % 3],
        "due_date": "2026-12-01T09:00:00Z" if i % 4 else None,
        "tags": ["home", "errand"][: i % 3],
        "list_id": LIST,
        "parent_id": None,
        "position": f"c{i:02x}V",
        "created_at": "2026-11-20T09:00:00Z",
        "updated_at": "2026-11-20T09:30:00Z",
        "version": 1 + i % 5,
    }


def median_us(fn: Callable[[], Any], repeat: int = 300) -> float:
    for _ in range(20):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main() -> None:
    openapi = load_contract().openapi
    headers = {"Authorization": "Bearer x"}
    task_id = str(uuid.uuid4())
    get_request = MockRequest(
        "http://localhost", "get", f"/api/{USER}/tasks/{task_id}", headers=headers
    )
    list_request = MockRequest(
        "http://localhost", "get", f"/api/{USER}/tasks", headers=headers, args={"limit": "50"}
    )
    one = orjson.dumps(task(1))
    page = orjson.dumps(
        {
            "tasks": [task(i) for i in range(50)],
            "total": 50,
            "limit": 50,
            "offset": 0,
            "next_cursor": None,
        }
    )
    get_response = MockResponse(one, status_code=200, headers={"ETag": '"2"'})
    list_response = MockResponse(page, status_code=200)
    for request in (get_request, list_request):
        assert not openapi.request_unmarshaller.unmarshal(request).errors
    openapi.validate_response(get_request, get_response)
    openapi.validate_response(list_request, list_response)

    plans = load_plans()
    get_plan, list_plan = plans["get_task"], plans["list_tasks"]
    no_query: list[tuple[str, str]] = []
    get_args = (no_query, {"user_id": USER, "task_id": task_id}, CIMultiDict(headers), None)
    list_args = ([("limit", "50")], {"user_id": USER}, CIMultiDict(headers), None)
    rows = [
        ("GET one task: request", lambda: openapi.request_unmarshaller.unmarshal(get_request)),
        ("GET one task: response", lambda: openapi.validate_response(get_request, get_response)),
        ("GET 50-task list: request", lambda: openapi.request_unmarshaller.unmarshal(list_request)),
        (
            "GET 50-task list: response",
            lambda: openapi.validate_response(list_request, list_response),
        ),
    ]
    fast_rows = [
        ("GET one task: request", lambda: get_plan.read(*get_args, validate=True)),
        (
            "GET one task: response",
            lambda: get_plan.check_response(200, {"ETag": '"2"'}, "application/json", one),
        ),
        ("GET 50-task list: request", lambda: list_plan.read(*list_args, validate=True)),
        (
            "GET 50-task list: response",
            lambda: list_plan.check_response(200, {}, "application/json", page),
        ),
    ]
    print(f"{'validation step':32} {'openapi-core':>14} {'compiled plan':>14}")
    for (name, core), (_, fast) in zip(rows, fast_rows, strict=True):
        print(f"{name:32} {median_us(core):>11.0f} µs {median_us(fast):>11.1f} µs")


if __name__ == "__main__":
    main()
