"""GET /metrics: Prometheus text of every worker, requests by operation and status, gauges,
METRICS_ENABLED; the same across two worker processes (each counted once)."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from server.config import Settings
from server.observability.metrics import Metrics
from tests.conftest import User
from tests.live import serve_fresh
from tests.support import Api, metric_value

REQUESTS = "todo_http_requests_total"


def test_metrics_count_requests_by_operation_and_status(api: Api, user: User) -> None:
    before = api.get("/metrics").text
    for _ in range(3):
        assert api.get("/api/me", headers=user.headers).status_code == 200
    assert api.get("/api/me").status_code == 401
    after = api.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    ok = {"operation": "get_me", "status": "200"}
    assert metric_value(text, REQUESTS, **ok) - metric_value(before, REQUESTS, **ok) == 3
    refused = {"operation": "get_me", "status": "401"}
    assert metric_value(text, REQUESTS, **refused) - metric_value(before, REQUESTS, **refused) == 1
    timed = "todo_http_request_duration_seconds_count"
    assert (
        metric_value(text, timed, operation="get_me")
        - metric_value(before, timed, operation="get_me")
        == 4
    )


def test_latencies_land_in_their_buckets_bounds_included() -> None:
    """Tallied requests reach the exposition as observe() would have put them: a latency equal
    to a bound counts in that bound's bucket (le), buckets are cumulative, the sum is exact."""
    metrics = Metrics()
    for seconds in (0.0005, 0.001, 0.003, 0.005, 20.0):
        metrics.observe("todo_api.get_task", 200, seconds)
    metrics.observe("todo_api.get_task", 404, 0.2)
    text = metrics.exposition().decode()
    bucket = "todo_http_request_duration_seconds_bucket"
    by_bound = {
        le: metric_value(text, bucket, le=le, operation="get_task")
        for le in ("0.001", "0.0025", "0.005", "0.25", "10.0", "+Inf")
    }
    assert by_bound == {"0.001": 2, "0.0025": 2, "0.005": 4, "0.25": 5, "10.0": 5, "+Inf": 6}
    total = metric_value(text, "todo_http_request_duration_seconds_sum", operation="get_task")
    assert total == pytest.approx(20.2095)
    assert metric_value(text, REQUESTS, operation="get_task", status="200") == 5
    assert metric_value(text, REQUESTS, operation="get_task", status="404") == 1


def test_unknown_routes_are_counted_apart(api: Api) -> None:
    before = api.get("/metrics").text
    assert api.get("/no/such/route").status_code == 404
    text = api.get("/metrics").text
    labels = {"operation": "unmatched", "status": "404"}
    assert metric_value(text, REQUESTS, **labels) - metric_value(before, REQUESTS, **labels) == 1


def test_metrics_carry_the_pool_hash_and_stream_gauges(api: Api) -> None:
    text = api.get("/metrics").text
    for gauge in (
        "todo_db_pool_connections_in_use",
        "todo_db_pool_waiting",
        "todo_password_hash_queue_depth",
        "todo_event_streams_open",
    ):
        assert f"# TYPE {gauge} gauge" in text
    assert metric_value(text, "todo_db_pool_waiting") == 0


def test_metrics_need_no_token_and_leak_no_user(api: Api, user: User) -> None:
    api.get("/api/me", headers=user.headers)
    text = api.get("/metrics").text
    assert user.id not in text
    assert user.email not in text


def test_metrics_turned_off_answer_404_like_an_unknown_route(
    settings: Settings, make_api: Any
) -> None:
    with make_api(dataclasses.replace(settings, metrics_enabled=False)) as off:
        metrics, unknown = off.get("/metrics"), off.get("/no/such/route")
        assert metrics.status_code == unknown.status_code == 404
        assert metrics.headers["content-type"] == "application/problem+json"
        assert metrics.json()["type"] == unknown.json()["type"]
        assert metrics.json()["detail"] == unknown.json()["detail"]


@pytest.mark.slow
def test_two_workers_are_each_counted_once(admin_dsn: str, tmp_path_factory: Any) -> None:
    """New connections spread over both workers; whichever answers the scrape adds both up.
    The run's metrics live in DATA_DIR/metrics/<pid of the serving process>, removed at exit."""
    data_dir = tmp_path_factory.mktemp("metrics-data")
    env = {"DATA_DIR": str(data_dir)}
    with serve_fresh(admin_dsn, tmp_path_factory, "metrics", workers=2, env=env) as server:
        assert server.process is not None
        run_dir = data_dir / "metrics" / str(server.process.pid)
        assert run_dir.is_dir()
        before = httpx.get(f"{server.url}/metrics").text
        for _ in range(40):  # one connection each: the kernel spreads them over the workers
            assert httpx.get(f"{server.url}/health").status_code == 200
        pids = {path.name.rsplit("_", 1)[-1] for path in run_dir.glob("counter_*.db")}
        assert len(pids) >= 2, f"one worker answered every request: {sorted(pids)}"
        for _ in range(4):  # whichever worker answers, the sum is the same
            text = httpx.get(f"{server.url}/metrics").text
            labels = {"operation": "health", "status": "200"}
            assert (
                metric_value(text, REQUESTS, **labels) - metric_value(before, REQUESTS, **labels)
                == 40
            )
    assert not run_dir.exists()  # the run cleans up after itself
