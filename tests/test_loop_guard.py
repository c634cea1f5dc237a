"""The event-loop guard (server/observability/loop_guard.py): a request that blocks its worker's
loop is measured (the loop's late heartbeat), named (its code was running when the watcher
looked), logged past LOOP_HOLD_LOG_MS with its operation, and counted in /metrics by operation;
a request that waits (on PostgreSQL, a timer) holds nothing while it waits. The loop's lag is
sampled into /metrics. tests/loop_guard.py reads it all for any test (check_holds, HoldCount,
the loop_guard fixture). And what the guard found in the conformance run: GET /openapi.yaml
parsed the contract on every request to check its answer, and /metrics wrote every worker's
values out on the loop."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server import handlers
from server.config import Settings
from server.contract import pipeline
from server.contract.context import Request
from server.contract.reply import Reply
from server.observability import loop_guard
from server.observability.loop_guard import BEAT, HOLD
from server.observability.metrics import Metrics
from tests import ROOT
from tests.loop_guard import HOLD_BOUND, HoldCount, holds_over, worst_holds
from tests.support import Api, User, metric_value

BLOCK = 0.3  # seconds a blocking handler holds the loop; past 0.25, a bucket bound
WAIT = 0.3


async def blocking_health(request: Request) -> Reply:
    time.sleep(BLOCK)  # what a runaway computation does to the loop  # noqa: ASYNC251
    return Reply({"status": "ok"})


async def waiting_ready(request: Request) -> Reply:
    await asyncio.sleep(WAIT)  # lets everything else run meanwhile
    return Reply({"status": "ready", "outbox": {"oldest_unsent_seconds": None}})


@pytest.fixture(scope="module")
def guarded(settings: Settings, make_api: Callable[..., Api]) -> Iterator[Api]:
    """An app whose /health blocks the loop for BLOCK, and whose /ready waits WAIT."""
    implemented = {**handlers.collect(), "health": blocking_health, "ready": waiting_ready}
    with make_api(
        dataclasses.replace(settings, loop_hold_log_ms=200), implemented=implemented
    ) as api:
        yield api


def test_a_request_that_blocks_the_loop_is_measured_logged_and_counted(
    guarded: Api, caplog: pytest.LogCaptureFixture
) -> None:
    count = HoldCount(guarded, bound=0.25)
    with caplog.at_level(logging.WARNING, logger="todo_api"):
        response = guarded.get("/health")
    assert response.status_code == 200
    [line] = [r for r in caplog.records if r.getMessage() == "the event loop was held"]
    assert (line.operation, line.method, line.path) == ("health", "GET", "/health")  # type: ignore[attr-defined]
    assert line.request_id == response.headers["x-request-id"]  # type: ignore[attr-defined]
    assert line.held_ms >= (BLOCK - BEAT) * 1000  # type: ignore[attr-defined]
    assert worst_holds(guarded)["health"] >= BLOCK - BEAT
    with pytest.raises(AssertionError, match=r"health: 1 \(worst 0\.[23]"):
        count.check()


def test_a_request_that_waits_holds_nothing_while_it_waits(
    guarded: Api, caplog: pytest.LogCaptureFixture
) -> None:
    before = holds_over(guarded.get("/metrics").text, HOLD)
    with caplog.at_level(logging.WARNING, logger="todo_api"):
        started = time.monotonic()
        assert guarded.get("/ready").status_code == 200
        assert time.monotonic() - started >= WAIT
    assert not [r for r in caplog.records if getattr(r, "operation", None) == "ready"]
    after = holds_over(guarded.get("/metrics").text, HOLD)
    assert after.get("ready", 0) == before.get("ready", 0)  # no hold of HOLD, although it took WAIT


def test_a_blocked_loop_shows_in_its_lag(guarded: Api) -> None:
    lag = "todo_event_loop_lag_seconds_count"
    before = guarded.get("/metrics").text
    guarded.get("/health")  # blocks BLOCK
    guarded.run(asyncio.sleep(0.3))  # the sampler wakes a few times
    after = guarded.get("/metrics").text
    assert metric_value(after, lag) > metric_value(before, lag)
    late = "todo_event_loop_lag_seconds_bucket"
    slow_before = metric_value(before, lag) - metric_value(before, late, le="0.1")
    slow_after = metric_value(after, lag) - metric_value(after, late, le="0.1")
    assert slow_after >= slow_before + 1, "the blocked sample was not seen late"


def test_the_guard_fixture_passes_ordinary_requests(api: Api, user: User, loop_guard: None) -> None:
    for _ in range(3):
        assert api.get("/api/me", headers=user.headers).status_code == 200
    assert not holds_over(api.get("/metrics").text, HOLD_BOUND).get("get_me")


def test_the_contract_as_yaml_is_checked_once_not_on_every_request(
    settings: Settings, make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking the YAML answer parses the whole contract (50-190 ms on the loop, for anyone,
    no token needed); the same answer object needs it once."""
    checks: list[object] = []
    real = pipeline.validate_response

    def validate(*args: Any) -> None:
        checks.append(args)
        real(*args)

    monkeypatch.setattr(pipeline, "validate_response", validate)
    with make_api(settings) as api:
        answers = [api.get("/openapi.yaml") for _ in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert all(a.content == (ROOT / "openapi.yaml").read_bytes() for a in answers)
        assert len(checks) == 1
        assert [api.get("/metrics").status_code for _ in range(2)] == [200, 200]
        assert len(checks) == 1, "/metrics (text the contract says is any string) is the plan's"


def test_metrics_are_written_out_off_the_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real = Metrics.text

    def text(self: Metrics) -> bytes:
        threads.append(threading.current_thread())
        return real(self)

    monkeypatch.setattr(Metrics, "text", text)
    assert api.get("/metrics").status_code == 200
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()  # the thread the event loop runs in


def test_a_hold_that_lasts_is_logged_while_it_lasts(
    guarded: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop that never comes back (a runaway loop in a request) still says who holds it."""
    monkeypatch.setattr(loop_guard, "STUCK", BLOCK / 2)
    with caplog.at_level(logging.WARNING, logger="todo_api"):
        assert guarded.get("/health").status_code == 200
    [line] = [
        r
        for r in caplog.records
        if r.getMessage() == "the event loop is held and has not come back"
    ]
    assert line.operation == "health"  # type: ignore[attr-defined]
    assert BLOCK / 2 < line.held_ms / 1000 < BLOCK  # type: ignore[attr-defined]  # said while held


def _held_after_a_stop(caplog: pytest.LogCaptureFixture, log_over_ms: int, message: str) -> float:
    """A guarded loop stopped for 0.6 s (a test client's loop between requests), whose first
    callback once it runs again holds it 0.4 s before the beat that is due: the seconds of the
    one warning logged with `message`."""
    loop = asyncio.new_event_loop()
    guard = loop_guard.LoopGuard(None, log_over_ms=log_over_ms)

    async def start() -> None:
        guard.start()

    try:
        loop.run_until_complete(start())
        time.sleep(0.6)  # the loop does not run: the watcher marks it stopped
        loop.call_soon(time.sleep, 0.4)  # runs before the beat that is due
        with caplog.at_level(logging.WARNING, logger="todo_api"):
            loop.run_until_complete(asyncio.sleep(0))
    finally:
        guard.stop()
        loop.close()
    [line] = [r for r in caplog.records if r.getMessage() == message]
    return float(line.held_ms) / 1000  # type: ignore[attr-defined]


def test_a_loop_that_runs_again_is_held_only_from_when_it_ran_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop that stopped running (a test client's loop between requests) and runs again is
    not held for the time it was stopped: a hold that begins as it runs again, before its first
    beat, is logged for its own length (CI once read a test's pause as a hold by no request)."""
    monkeypatch.setattr(loop_guard, "STUCK", 0.15)
    held = _held_after_a_stop(caplog, 10_000, "the event loop is held and has not come back")
    assert 0.15 < held < 0.45  # not the 0.6 s


def test_a_hold_that_begins_as_a_loop_runs_again_is_counted_by_its_late_beat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A loop that ran again after a stop, and whose first callback held it before the beat
    that was due, has that beat count the hold from when the loop was last seen stopped, not
    nothing: the stop's mark had wiped the whole lag (a fresh-clone run of stop 38 read no late
    sample for the blocked /health of test_a_blocked_loop_shows_in_its_lag)."""
    held = _held_after_a_stop(caplog, 50, "the event loop was held")
    assert 0.35 < held < 0.5  # not 0, nor the 1.0 s
